"""Streaming readers for leads files (SPEC 5): CSV in UTF-8 / UTF-8-BOM / cp1252, and XLSX.

Neither reader holds the whole file: CSV is read in 1 MiB blocks, XLSX through openpyxl's
read-only mode. Both give the header row (cells trimmed, trailing blank cells dropped), then
data rows a chunk at a time as lists of cells; rows are numbered the way a spreadsheet shows
them (header = 1): the first data row is `first_row`, and every later row, blank or not, is one
more. CSV cells come as written (the importer trims what it uses); XLSX cells are turned into
the text a person would type (42.0 -> "42", dates in ISO form).

Encoding: a UTF-8 BOM is honoured; otherwise every line is decoded as UTF-8 and, only where
that fails, as cp1252. Deciding per line (not from a prefix) copes with a cp1252 byte that
first appears deep in the file, and with files pasted together from both encodings; a line
valid in neither is an error naming it. UTF-16/32 (Excel's "Unicode text") is refused by BOM.
"""

from __future__ import annotations

import csv
import itertools
import warnings
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


class LeadFile:
    """An open leads file: its header row, then its data rows a chunk at a time; close it."""

    def __init__(
        self,
        kind: str,
        header: list[str],
        first_row: int,
        read: Callable[[int], list[list[str]]],
        close: Callable[[], None],
    ) -> None:
        self.kind = kind  # "csv" or "xlsx"
        self.header = header
        self.first_row = first_row  # the row number of the first data row (header = 1, usually)
        self._read = read
        self._close = close

    def read(self, count: int) -> list[list[str]]:
        """Up to `count` further rows (fewer only at the end), each a list of cells."""
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
    lines = _decoded_lines(handle, head)
    # Leading blank lines are skipped; the first line with text is the header.
    skipped = 0
    for first in lines:
        if first.strip():
            break
        skipped += 1
    else:
        raise LeadFileError("the file is empty")
    # strict: a quote never closed, or text right after a closing quote, is an error naming
    # its line, not a field that silently swallows the rest of the file.
    reader = csv.reader(
        itertools.chain((first,), lines), delimiter=_sniff_delimiter(first), strict=True
    )
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))

    def read(count: int) -> list[list[str]]:
        # islice + list keep the per-row loop in C; a broken row is named by its line.
        try:
            return list(itertools.islice(reader, count))
        except csv.Error as exc:
            raise LeadFileError(f"line {reader.line_num}: {exc}") from None

    header = read(1)[0]
    return LeadFile("csv", _trim_header(header), skipped + 2, read, handle.close)


def _decoded_lines(handle: IO[bytes], head: bytes) -> Iterator[str]:
    """Text lines with their endings (\\n, \\r\\n or a lone \\r), decoded per line."""
    return itertools.chain.from_iterable(_decoded_blocks(handle, head))


def _decoded_blocks(handle: IO[bytes], head: bytes) -> Iterator[list[str]]:
    line_no = 0
    for lines in _byte_blocks(handle, head):
        try:
            # The common case: a whole block of valid UTF-8 lines in one C-level loop.
            decoded = [line.decode("utf-8") for line in lines]
        except UnicodeDecodeError:
            decoded = [_decode(line, line_no + k + 1) for k, line in enumerate(lines)]
        line_no += len(lines)
        yield decoded


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


def _byte_blocks(handle: IO[bytes], head: bytes) -> Iterator[list[bytes]]:
    """Complete lines, a block at a time; bytes.splitlines knows only \\n, \\r\\n and \\r."""
    carry = b""
    block = head
    while block:
        lines = (carry + block).splitlines(keepends=True)
        # The last piece may be cut mid-line, or be a lone \r whose \n starts the next block.
        carry = b"" if lines[-1].endswith(b"\n") else lines.pop()
        if len(carry) > _MAX_LINE:
            raise LeadFileError("a line is longer than 32 MB: this is not a leads table")
        if lines:
            yield lines
        block = handle.read(_BLOCK)
    if carry:
        yield [carry]


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


def _open_xlsx(path: Path) -> LeadFile:
    import openpyxl  # noqa: PLC0415 - only XLSX imports need it, and it is slow to import

    try:
        with warnings.catch_warnings():
            # Style and extension warnings about the workbook say nothing about the data.
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a malformed workbook
        raise LeadFileError(f"cannot read the XLSX file: {_describe(exc)}") from None
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
        book.close()
        raise
    except Exception as exc:
        book.close()
        raise LeadFileError(f"cannot read the XLSX file: {_describe(exc)}") from None

    def read(count: int) -> list[list[str]]:
        try:
            return [[_cell_text(v) for v in values] for values in itertools.islice(rows, count)]
        except Exception as exc:
            raise LeadFileError(f"cannot read the XLSX file: {_describe(exc)}") from None

    return LeadFile("xlsx", _trim_header(header), row_no + 1, read, book.close)


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
    return text.strip()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
