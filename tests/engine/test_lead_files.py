"""The CSV reader's fast path against the csv module: the same rows, errors and line numbers."""

from __future__ import annotations

import csv
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine import lead_files
from engine.lead_files import FlatRows, LeadFileError, RowBlock, open_lead_file

# ("ok", header, rows) or ("error", [message], [])
Outcome = tuple[str, list[str], list[list[str]]]


def by_csv_module(data: bytes) -> Outcome:
    """What the reader must give: the csv module over the file's lines, as the old reader."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    lines = [line.decode("utf-8") for line in data.splitlines(keepends=True)]
    skipped = 0
    while skipped < len(lines) and not lines[skipped].strip():
        skipped += 1
    if skipped == len(lines):
        return ("error", ["the file is empty"], [])
    reader = csv.reader(
        lines[skipped:], delimiter=lead_files._sniff_delimiter(lines[skipped]), strict=True
    )
    try:
        rows = list(reader)
    except csv.Error as exc:
        return ("error", [f"line {skipped + reader.line_num}: {exc}"], [])
    header = [cell.strip() for cell in rows[0]]
    while header and not header[-1]:
        header.pop()
    return ("ok", header, rows[1:])


@contextmanager
def block_size(size: int) -> Iterator[None]:
    # Small blocks: many of them, so the fast path and csv take turns inside one file.
    saved = lead_files._BLOCK
    lead_files._BLOCK = size
    try:
        yield
    finally:
        lead_files._BLOCK = saved


def by_reader(data: bytes, size: int, chunk: int = 7) -> Outcome:
    with tempfile.TemporaryDirectory() as folder, block_size(size):
        path = Path(folder) / "leads.csv"
        path.write_bytes(data)
        try:
            with open_lead_file(path) as lead_file:
                rows: list[list[str]] = []
                while True:
                    blocks = lead_file.read(chunk)
                    for block in blocks:
                        rows += [list(block.row(k)) for k in range(len(block))]
                        check_block(block)
                    if sum(map(len, blocks)) < chunk:
                        return ("ok", lead_file.header, rows)
        except LeadFileError as exc:
            return ("error", [str(exc)], [])


def check_block(block: RowBlock) -> None:
    """A block's columns are its rows' cells; `trimmed` holds when it says so."""
    rows = [block.row(k) for k in range(len(block))]
    for index in range(max(map(len, rows), default=0) + 2):
        assert block.column(index) == [cells[index] if index < len(cells) else "" for cells in rows]
    if block.trimmed:
        assert all(cell == cell.strip() for cells in rows for cell in cells)


_PLAIN_CELL = st.text(st.sampled_from("ab x@.é\x00\t;\x0b\xa0"), max_size=5)
_ANY_CELL = st.text(st.sampled_from('ab ,;\t"\r\n\x00é\u2028 '), max_size=6)
_PLAIN_LINE = st.lists(_PLAIN_CELL, min_size=1, max_size=4).map(",".join)
_CSV_TEXT = st.one_of(
    st.lists(_PLAIN_LINE, min_size=1, max_size=30).map(lambda lines: "\n".join(lines) + "\n"),
    st.lists(_PLAIN_LINE, min_size=1, max_size=30).map("\r\n".join),
    st.lists(st.one_of(_PLAIN_LINE, _PLAIN_LINE, _ANY_CELL), min_size=1, max_size=30).map(
        "\n".join
    ),
    st.text(st.sampled_from('ab ,;\t"\r\n\x00é'), max_size=200),
)


@settings(max_examples=400, deadline=None)
@given(_CSV_TEXT, st.sampled_from([1, 3, 8, 64, 1 << 20]))
@example("email,name\na@x.com,Ann\r\nb@x.com, Bob \n", 1 << 20)
@example('email,note\na@x.com,"two\nlines"\nb@x.com,x\n', 16)
@example("email\n\na@x.com\n\n", 4)
@example('email,note\na@x.com,"never closed\n' + "x\n" * 20, 8)
@example("email;name\r\na@x.com;Ann\rb@x.com;Bo\r", 1 << 20)
def test_rows_are_the_csv_modules(text: str, size: int) -> None:
    data = text.encode("utf-8")
    assert by_reader(data, size) == by_csv_module(data)


def big_plain_file(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,first_name,company\n")
        out.writelines(f"user{i}@acme.com,Ann{i},Acme {i % 7}\n" for i in range(rows))
    return path


def test_a_plain_file_takes_the_fast_path_in_trimmed_blocks(tmp_path: Path) -> None:
    path = big_plain_file(tmp_path / "leads.csv", 50_000)
    kinds: set[type[RowBlock]] = set()
    trimmed = True
    count = 0
    with open_lead_file(path) as lead_file:
        while blocks := lead_file.read(10_000):
            kinds |= {type(block) for block in blocks}
            trimmed = trimmed and all(block.trimmed for block in blocks)
            count += sum(map(len, blocks))
    assert (count, kinds, trimmed) == (50_000, {FlatRows}, True)


def test_a_quoted_record_across_blocks_and_the_rows_around_it() -> None:
    lines = [f"u{i}@acme.com,Ann,Acme\n" for i in range(3000)]
    lines[1500] = 'q@acme.com,"Ann\nthe second line, with a comma",Acme\n'
    data = ("email,name,company\n" + "".join(lines)).encode()
    got = by_reader(data, 4096, chunk=1000)
    assert got == by_csv_module(data)
    assert got[0] == "ok"
    assert got[2][1500] == ["q@acme.com", "Ann\nthe second line, with a comma", "Acme"]


def test_a_broken_quote_after_fast_blocks_names_its_line() -> None:
    data = ("email,note\n" + "a@x.com,n\n" * 5000 + 'b@x.com,"open\n' + "c\n" * 3).encode()
    assert by_reader(data, 1024) == ("error", ["line 5005: unexpected end of data"], [])


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_line_endings(ending: str) -> None:
    text = ending.join(["email,name", "a@x.com,Ann", " b@x.com , Bo "]) + ending
    got = by_reader(text.encode(), 1 << 20)
    assert got == ("ok", ["email", "name"], [["a@x.com", "Ann"], [" b@x.com ", " Bo "]])


def xlsx_with_value(path: Path, value: str, *, rich_runs: int = 0) -> Path:
    """A one-lead workbook whose `note` cell holds `value` (as rich-text runs if asked)."""
    plain = path.with_suffix(".plain.xlsx")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["email", "note"])
    sheet.append(["a@example.com", "PLACEHOLDER"])
    book.save(plain)
    cell = f"<is><t>{value}</t></is>"
    if rich_runs:
        piece = value[: len(value) // rich_runs]
        cell = "<is>" + "".join(f"<r><t>{piece}</t></r>" for _ in range(rich_runs)) + "</is>"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)  # openpyxl writes strings inline, in the sheet
            data = data.replace(b"<is><t>PLACEHOLDER</t></is>", cell.encode())
            out.writestr(info.filename, data)
    return path


@pytest.mark.parametrize(
    ("size", "runs"),
    [(2 << 20, 0), (20 << 20, 0), (2 << 20, 4096)],
    ids=["2MB-cell", "20MB-cell-packed-tight", "2MB-of-rich-text-runs"],
)
def test_an_xlsx_value_over_1_mib_is_refused(tmp_path: Path, size: int, runs: int) -> None:
    path = xlsx_with_value(tmp_path / "bomb.xlsx", "x" * size, rich_runs=runs)
    assert path.stat().st_size < 100_000  # it packs to almost nothing
    with pytest.raises(LeadFileError, match="XLSX file"), open_lead_file(path) as leads:
        while leads.read(1000):
            pass


def test_an_xlsx_value_under_the_limit_still_reads(tmp_path: Path) -> None:
    path = xlsx_with_value(tmp_path / "ok.xlsx", "y" * 5000)
    with open_lead_file(path) as leads:
        (block,) = leads.read(1000)
        assert block.row(0) == ["a@example.com", "y" * 5000]


def test_an_xlsx_named_csv_is_read_as_xlsx(tmp_path: Path) -> None:
    path = xlsx_with_value(tmp_path / "real.xlsx", "hello")
    renamed = path.rename(tmp_path / "leads.csv")
    with open_lead_file(renamed) as leads:
        assert leads.kind == "xlsx"
        (block,) = leads.read(10)
        assert block.row(0) == ["a@example.com", "hello"]
