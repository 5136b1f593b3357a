"""Streaming readers for leads files (SPEC 5): CSV in UTF-8 / UTF-8-BOM / cp1252, and XLSX.

Neither reader holds the whole file: CSV is read in 1 MiB blocks, XLSX through openpyxl's
read-only mode. Both give the header row (cells trimmed, trailing blank cells dropped), then
data rows a chunk at a time as RowBlocks (a column at a time for the importer's hot path);
rows are numbered the way a spreadsheet shows them (header = 1): the first data row is
`first_row`, and every later row, blank or not, is one more. CSV cells come as written (the
importer trims what it uses); XLSX cells are turned into the text a person would type (42.0 ->
"42", dates in ISO form).

Encoding: a UTF-8 BOM is honoured; otherwise every line is decoded as UTF-8 and, only where
that fails, as cp1252. Deciding per line (not from a prefix) copes with a cp1252 byte that
first appears deep in the file, and with files pasted together from both encodings; a line
valid in neither is an error naming it. UTF-16/32 (Excel's "Unicode text") is refused by BOM.

CSV fast path: a block of lines with no quote character at all, valid UTF-8, every line
holding the same number of delimiters and none blank, is exactly what the csv module would
make of it - each line split at the delimiter - so it is split in a few C-level passes over
the whole block (`str.split` of the block), straight into columns. Any other block, and the
rest of a record that started in a quoted field, goes through the csv module line by line.
"""

from __future__ import annotations

import csv
import itertools
import operator
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from types import TracebackType
from typing import IO

_BLOCK = 1 << 20
_MAX_LINE = 32 << 20  # a "line" this long is not a leads file
_DELIMITERS = (",", ";", "\t")
_UTF8_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff")  # UTF-16 LE/BE; UTF-32 LE starts with FF FE too
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls
_FIELD_LIMIT = 1 << 20  # csv's default 128 KiB field limit is too tight for notes columns


class LeadImportError(Exception):
    """A leads import cannot go ahead; the message says why, for the user."""


class LeadFileError(LeadImportError):
    """The leads file cannot be read as a table: empty, no header, bad encoding, broken XLSX."""


# --- rows --------------------------------------------------------------------------------


class RowBlock:
    """Consecutive data rows of a file, read a column at a time (or a row, when needed)."""

    __slots__ = ()
    trimmed = False  # True: no cell starts or ends with whitespace (str.strip would keep all)

    def __len__(self) -> int:
        raise NotImplementedError

    def column(self, index: int) -> list[str]:
        """Every row's cell at `index`; '' for a row with fewer cells."""
        raise NotImplementedError

    def row(self, k: int) -> list[str]:
        """The `k`-th row's cells, as read."""
        raise NotImplementedError

    def split(self, count: int) -> tuple[RowBlock, RowBlock]:
        """The first `count` rows, and the rest."""
        raise NotImplementedError


class ListRows(RowBlock):
    """Rows as lists of cells, of any lengths (the csv module's and openpyxl's rows)."""

    __slots__ = ("_rows", "_shortest")

    def __init__(self, rows: list[list[str]]) -> None:
        self._rows = rows
        self._shortest = min(map(len, rows), default=0)

    def __len__(self) -> int:
        return len(self._rows)

    def column(self, index: int) -> list[str]:
        if index < self._shortest:
            return list(map(operator.itemgetter(index), self._rows))
        return [cells[index] if index < len(cells) else "" for cells in self._rows]

    def row(self, k: int) -> list[str]:
        return self._rows[k]

    def split(self, count: int) -> tuple[RowBlock, RowBlock]:
        return ListRows(self._rows[:count]), ListRows(self._rows[count:])


class FlatRows(RowBlock):
    """Rows of one width as one flat list of cells, row after row (the CSV fast path's)."""

    __slots__ = ("_cells", "_count", "_width", "trimmed")

    def __init__(self, cells: list[str], width: int, trimmed: bool = False) -> None:
        self._cells = cells
        self._width = width
        self._count = len(cells) // width
        self.trimmed = trimmed

    def __len__(self) -> int:
        return self._count

    def column(self, index: int) -> list[str]:
        if index < self._width:
            return self._cells[index :: self._width]
        return [""] * self._count

    def row(self, k: int) -> list[str]:
        return self._cells[k * self._width : (k + 1) * self._width]

    def split(self, count: int) -> tuple[RowBlock, RowBlock]:
        cut, width, trimmed = count * self._width, self._width, self.trimmed
        return (
            FlatRows(self._cells[:cut], width, trimmed),
            FlatRows(self._cells[cut:], width, trimmed),
        )


class LeadFile:
    """An open leads file: its header row, then its data rows a chunk at a time; close it."""

    def __init__(
        self,
        kind: str,
        header: list[str],
        first_row: int,
        read: Callable[[int], list[RowBlock]],
        close: Callable[[], None],
    ) -> None:
        self.kind = kind  # "csv" or "xlsx"
        self.header = header
        self.first_row = first_row  # the row number of the first data row (header = 1, usually)
        self._read = read
        self._close = close

    def read(self, count: int) -> list[RowBlock]:
        """Up to `count` further rows (fewer only at the end), in one or more blocks."""
        return self._read(count)

    def close(self) -> None:
        """Release the file."""
        self._close()

    def __enter__(self) -> LeadFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def open_lead_file(path: Path) -> LeadFile:
    """Open a CSV or XLSX leads file (told apart by content) and read its header row."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise LeadFileError(f"cannot open {path.name}: {exc.strerror or exc}") from None
    try:
        head = handle.read(_BLOCK)
        if head.startswith(_ZIP):
            handle.close()
            return _open_xlsx(path)
        if head.startswith(_OLE):
            raise LeadFileError(
                "this is an old binary Excel file (.xls); save it as .xlsx or CSV and send that"
            )
        return _open_csv(handle, head)
    except BaseException:
        handle.close()
        raise


# --- CSV ---------------------------------------------------------------------------------


def _open_csv(handle: IO[bytes], head: bytes) -> LeadFile:
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    elif head.startswith(_WIDE_BOMS):
        raise LeadFileError(
            "the file is UTF-16 text (Excel's 'Unicode Text'); save it as 'CSV UTF-8' instead"
        )
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    reader = _CsvReader(_byte_blocks(handle, head))
    # Leading blank lines are skipped; the first line with text is the header.
    skipped = reader.skip_blank_lines()
    header = reader.header()
    return LeadFile("csv", _trim_header(header), skipped + 2, reader.read, handle.close)


class _CsvReader:
    """Records from byte blocks of whole lines: the fast path where it applies, else csv."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._delimiter = ","
        self._lines: list[str] = []  # decoded lines of the current slow block
        self._next = 0  # the first of them not yet parsed
        self._try_fast = False  # whether the rest of self._lines may still go the fast way
        self._rows: RowBlock | None = None  # rows of a fast block not yet handed out
        self._lines_seen = 0  # lines decoded so far, for naming a line in no known encoding
        self._fast_lines = 0  # lines the csv module never saw, for naming a broken line
        self._skipped = 0  # blank lines before the header
        # strict: a quote never closed, or text right after a closing quote, is an error naming
        # its line, not a field that silently swallows the rest of the file.
        self._reader = csv.reader(self._feed(), strict=True)

    def skip_blank_lines(self) -> int:
        """Pass the blank lines before the header, fix the delimiter; return how many."""
        while True:
            while self._next < len(self._lines):
                if self._lines[self._next].strip():
                    self._delimiter = _sniff_delimiter(self._lines[self._next])
                    self._reader = csv.reader(self._feed(), delimiter=self._delimiter, strict=True)
                    return self._skipped
                self._next += 1
                self._skipped += 1
            if not self._load_lines():
                raise LeadFileError("the file is empty")

    def header(self) -> list[str]:
        """The header row's cells (after skip_blank_lines)."""
        return self._csv_rows(1)[0]

    def read(self, count: int) -> list[RowBlock]:
        """Up to `count` further rows, in blocks; fewer only at the end of the file."""
        blocks: list[RowBlock] = []
        need = count
        while need > 0:
            if self._rows is not None:
                rows = self._rows
                if len(rows) > need:
                    rows, self._rows = rows.split(need)
                else:
                    self._rows = None
                blocks.append(rows)
                need -= len(rows)
            elif self._next < len(self._lines):
                # Between records with decoded lines left (after the header, or after a
                # record that ran on from an earlier block): the fast path may take the rest.
                if self._try_fast:
                    self._try_fast = False
                    self._rows = self._fast_rows("".join(self._lines[self._next :]))
                    if self._rows is not None:
                        self._fast_lines += len(self._lines) - self._next
                        self._lines, self._next = [], 0
                        continue
                parsed = self._csv_rows(min(need, len(self._lines) - self._next))
                blocks.append(ListRows(parsed))
                need -= len(parsed)
            elif not self._load_block():
                break
        return blocks

    def _load_block(self) -> bool:
        """Take the next block the fast way, or as lines for csv; False at the end."""
        data = next(self._blocks, None)
        if data is None:
            return False
        if b'"' not in data:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                self._rows = self._fast_rows(text)
                if self._rows is not None:
                    lines = len(self._rows)
                    self._lines_seen += lines
                    self._fast_lines += lines
                    return True
        self._set_lines(data)
        self._try_fast = False  # it just failed the fast path's conditions
        return True

    def _load_lines(self) -> bool:
        """Take the next block as lines for csv (a record runs on into it); False at the end."""
        data = next(self._blocks, None)
        if data is None:
            return False
        self._set_lines(data)
        self._try_fast = True
        return True

    def _set_lines(self, data: bytes) -> None:
        lines = data.splitlines(keepends=True)
        try:
            # The common case: a whole block of valid UTF-8 lines in one C-level loop.
            self._lines = [line.decode("utf-8") for line in lines]
        except UnicodeDecodeError:
            first = self._lines_seen + 1
            self._lines = [_decode(line, first + k) for k, line in enumerate(lines)]
        self._next = 0
        self._lines_seen += len(lines)

    def _fast_rows(self, text: str) -> FlatRows | None:
        """The records of `text` (whole lines) when the fast path applies to all of them."""
        if '"' in text:
            return None
        if "\r" in text:
            if text.count("\r") != text.count("\r\n"):
                return None  # a lone CR ends a line too: leave those files to csv
            text = text.replace("\r\n", "\n")
        body = text.removesuffix("\n")
        lines = body.split("\n")
        if "" in lines:
            return None  # csv gives [] for a blank line, not ['']
        delimiter = self._delimiter
        width = lines[0].count(delimiter) + 1
        counts = list(map(operator.methodcaller("count", delimiter), lines))
        if counts.count(width - 1) != len(counts):
            return None
        limit = csv.field_size_limit()
        if len(body) > limit and max(map(len, lines)) > limit:
            return None  # csv names the field that is too large
        joined = body.replace("\n", delimiter)  # the cells, one delimiter between any two
        trimmed = joined.isascii() and not _space_at_cell_edge(joined, delimiter)
        return FlatRows(joined.split(delimiter), width, trimmed)

    def _csv_rows(self, count: int) -> list[list[str]]:
        # islice + list keep the per-row loop in C; a broken row is named by its line.
        try:
            return list(itertools.islice(self._reader, count))
        except csv.Error as exc:
            line = self._skipped + self._fast_lines + self._reader.line_num
            raise LeadFileError(f"line {line}: {exc}") from None

    def _feed(self) -> Iterator[str]:
        """The csv module's lines: the current slow block's, then more as a record runs on."""
        while True:
            while self._next < len(self._lines):
                line = self._lines[self._next]
                self._next += 1
                yield line
            if not self._load_lines():
                return


# ASCII whitespace as str.isspace (and so str.strip) knows it, less the line ends (\n is
# a delimiter by then, and there is no \r).
_ASCII_SPACES = " \t\x0b\x0c\x1c\x1d\x1e\x1f"


def _space_at_cell_edge(joined: str, delimiter: str) -> bool:
    """Whether a cell of `joined` (ASCII cells with one delimiter between any two) starts or
    ends with whitespace: two substring searches for each whitespace character it holds."""
    for char in _ASCII_SPACES:
        if char == delimiter or char not in joined:
            continue
        if joined.startswith(char) or joined.endswith(char):
            return True
        if delimiter + char in joined or char + delimiter in joined:
            return True
    return False


def _byte_blocks(handle: IO[bytes], head: bytes) -> Iterator[bytes]:
    """The file a block of whole lines at a time (bytes.splitlines knows only \\n, \\r\\n
    and \\r); the last block may lack a line end."""
    carry = b""
    block = head
    while block:
        data = carry + block
        # A block ends after its last \n, or after a lone \r with more bytes behind it (one at
        # the very end may be the first half of a \r\n).
        cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
        carry = data[cut:]
        if len(carry) > _MAX_LINE:
            raise LeadFileError("a line is longer than 32 MB: this is not a leads table")
        if cut:
            yield data[:cut]
        block = handle.read(_BLOCK)
    if carry:
        yield carry


def _decode(line: bytes, line_no: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return line.decode("cp1252")
    except UnicodeDecodeError:
        raise LeadFileError(
            f"line {line_no} is neither UTF-8 nor Windows-1252 (cp1252) text; "
            "save the file as 'CSV UTF-8'"
        ) from None


def _sniff_delimiter(line: str) -> str:
    """The most frequent of `,` `;` TAB outside quotes in the header line; `,` when none."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties: the earlier in _DELIMITERS
    return best if counts[best] else ","


def _trim_header(cells: list[str]) -> list[str]:
    header = [cell.strip() for cell in cells]
    # Exports often end the header with empty cells (trailing delimiters, formatted but empty
    # spreadsheet columns); those columns have no name to become a variable and are dropped.
    while header and not header[-1]:
        header.pop()
    return header


# --- XLSX --------------------------------------------------------------------------------


# An XLSX is a zip: a few kB can unpack to gigabytes, and openpyxl builds each cell's text (and
# every shared string) whole in memory. So the parts that hold text are measured first, by
# streaming them, and a workbook that would not fit a leads table is refused before openpyxl.
_XLSX_TEXT_PART = re.compile(r"xl/(worksheets/[^/]+|sharedStrings)\.xml", re.IGNORECASE)
_MAX_XLSX_PART = 1 << 30  # one sheet's XML; a 1M-row table of leads is a few hundred MB
_MAX_RATIO = 200  # real sheets pack 5-30 times; a bomb packs a thousand times and more
_RATIO_FROM = 16 << 20  # small parts may pack as tightly as they like
_SCAN = _FIELD_LIMIT // 2


def _check_xlsx_parts(path: Path) -> None:
    """Refuse a workbook whose text parts unpack too far, or hold a value over 1 MiB."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LeadFileError(f"cannot read the XLSX file: {_describe(exc)}") from None
    with archive:
        for info in archive.infolist():
            if not _XLSX_TEXT_PART.fullmatch(info.filename):
                continue
            packed = max(info.compress_size, 1)
            if info.file_size > _MAX_XLSX_PART or (
                info.file_size > _RATIO_FROM and info.file_size > _MAX_RATIO * packed
            ):
                raise LeadFileError(
                    f"the XLSX file unpacks to {info.file_size >> 20} MB from "
                    f"{info.compress_size >> 10} kB ({info.filename}): that is not a table of "
                    "leads; save it as CSV and send that"
                )
            try:
                with archive.open(info) as part:
                    _scan_text_runs(part, info.filename)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                raise LeadFileError(f"cannot read the XLSX file: {_describe(exc)}") from None


def _scan_text_runs(part: IO[bytes], name: str) -> None:
    """Fail on a run of text (no markup) longer than a CSV field may be."""
    # Blocks of half the limit: a longer run always spans a block boundary, so the run carried
    # from block to block (last '<' to the next one) is the only one to measure.
    run = 0
    while block := part.read(_SCAN):
        first = block.find(b"<")
        if first < 0:
            run += len(block)
        else:
            run += first
            if run > _FIELD_LIMIT:
                break
            run = len(block) - block.rfind(b"<") - 1
        if run > _FIELD_LIMIT:
            break
    if run > _FIELD_LIMIT:
        raise LeadFileError(
            f"the XLSX file holds a value longer than {_FIELD_LIMIT >> 20} MiB ({name}); "
            "no lead field is that long"
        )


def _open_xlsx(path: Path) -> LeadFile:
    import openpyxl  # noqa: PLC0415 - only XLSX imports need it, and it is slow to import

    _check_xlsx_parts(path)
    # An open file, not the path: given a path, openpyxl judges the file by its name's
    # extension, and an XLSX saved as leads.csv is still an XLSX (told apart by content).
    handle = path.open("rb")
    try:
        with warnings.catch_warnings():
            # Style and extension warnings about the workbook say nothing about the data.
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a malformed workbook
        handle.close()
        raise LeadFileError(f"cannot read the XLSX file: {_describe(exc)}") from None

    def close() -> None:
        try:
            book.close()
        finally:
            handle.close()

    try:
        sheet = book.active if book.active is not None else book.worksheets[0]
        if not hasattr(sheet, "iter_rows"):
            raise LeadFileError("the active sheet is a chart, not a table")
        # The stored dimension may be wrong (rows cut off) or huge (XFD1048576): ignore it.
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        # iter_rows yields every sheet row from row 1, gaps filled, so position = row number.
        row_no = 0
        for values in rows:
            row_no += 1
            header = [_cell_text(value) for value in values]
            if any(header):
                break
        else:
            raise LeadFileError("the file is empty")
    except LeadFileError:
        close()
        raise
    except Exception as exc:
        close()
        raise LeadFileError(f"cannot read the XLSX file: {_describe(exc)}") from None

    def read(count: int) -> list[RowBlock]:
        try:
            cells = [[_cell_text(v) for v in values] for values in itertools.islice(rows, count)]
        except LeadFileError:
            raise
        except Exception as exc:
            raise LeadFileError(f"cannot read the XLSX file: {_describe(exc)}") from None
        return [ListRows(cells)] if cells else []

    return LeadFile("xlsx", _trim_header(header), row_no + 1, read, close)


def _cell_text(value: object) -> str:
    """A cell's value as the text a person would type: 42.0 -> '42', dates in ISO form."""
    text: str
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))  # phone numbers, zip codes and counts come as floats
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, datetime):
        midnight = value.time() == time(0)
        text = value.date().isoformat() if midnight else value.isoformat(" ", "seconds")
    elif isinstance(value, date | time):
        text = value.isoformat()
    else:  # str, int, timedelta, anything else openpyxl may give
        text = str(value)
    if len(text) > _FIELD_LIMIT:  # a rich-text cell made of many short runs
        raise LeadFileError(
            f"the XLSX file holds a value longer than {_FIELD_LIMIT >> 20} MiB; "
            "no lead field is that long"
        )
    return text.strip()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
