"""Leads files under random and broken input, through the real import (a SQLite file): an
ImportReport whose counts add up, or a LeadImportError naming the problem (and its line where
there is one), never another exception.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import CampaignConfig, OutreachConfig, StepConfig
from core.leads import ImportReport, report_lines
from engine.importer import import_leads
from engine.lead_files import LeadImportError
from storage.db import Database, open_db
from storage.lead_store import LeadStore
from storage.stores import Stores
from tests.reliability.mutate import mutated
from tests.reliability.profiles import fuzz

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CAMPAIGN = "main"  # its first step needs first_name

# What the readers and the importer may say, each naming the problem; `line N` where a line is
# at fault. Anything else (a library's own exception text unwrapped) is a finding.
MESSAGES = re.compile(
    r"line (?P<line>\d+): .+"
    r"|line (?P<line2>\d+) is neither UTF-8 nor Windows-1252 \(cp1252\) text; .+"
    r"|the file is empty"
    r"|the file has a header row but no data rows"
    r"|no e-mail column: .+"
    r"|several e-mail columns \(.+\); keep exactly one"
    r"|the file is UTF-16 text .+"
    r"|this is an old binary Excel file .+"
    r"|cannot read the XLSX file: .+"
    r"|the XLSX file (?:unpacks to|holds a value longer than) .+"
    r"|the active sheet is a chart, not a table"
    r"|a line is longer than 32 MB.+",
    re.DOTALL,
)


class Importer:
    """One database for a test's examples (a fixture per example would be far too slow)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.loop = asyncio.new_event_loop()
        self.conn: aiosqlite.Connection = self.loop.run_until_complete(self._open())

    async def _open(self) -> aiosqlite.Connection:
        conn = await open_db(self.folder / "outreach.db")
        steps = [
            StepConfig(subject="Hi {{ first_name }}", body="About {{ company | default('x') }}")
        ]
        cfg = OutreachConfig(campaigns=[CampaignConfig(name=CAMPAIGN, steps=steps)])
        await Stores.on(Database(conn)).config.sync_config(cfg.rules(), NOW.date(), now=NOW)
        return conn

    def run(self, data: bytes, name: str) -> ImportReport | LeadImportError:
        path = self.folder / name
        path.write_bytes(data)
        try:
            return self.loop.run_until_complete(
                import_leads(LeadStore(self.conn), path, CAMPAIGN, now=NOW)
            )
        except LeadImportError as exc:
            return exc
        finally:
            path.unlink()

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


@pytest.fixture(scope="module")
def importer() -> Iterator[Importer]:
    with tempfile.TemporaryDirectory() as folder:
        runner = Importer(Path(folder))
        try:
            yield runner
        finally:
            runner.close()


def check(result: ImportReport | LeadImportError, lines: int) -> None:
    """A report that adds up, or a known error naming its line within the file."""
    if isinstance(result, LeadImportError):
        text = str(result)
        match = MESSAGES.fullmatch(text)
        assert match is not None, f"unknown error: {text!r}"
        line = match.group("line") or match.group("line2")
        assert line is None or 1 <= int(line) <= lines, text
        return
    counted = (
        result.imported
        + result.invalid
        + result.duplicate_in_file
        + result.already_in_campaign
        + result.suppressed
        + result.held_by_other_campaign
        + result.missing_variables
    )
    assert result.rows_read == counted > 0
    for problem in result.invalid_rows:
        assert 2 <= problem.row <= lines and problem.reason
    for missing in result.missing_rows:
        assert 2 <= missing.row <= lines and missing.names
    assert report_lines(result)


def line_count(data: bytes) -> int:
    return len(data.splitlines()) + 1


# --- CSV ------------------------------------------------------------------------------------

EMAIL_HEADERS = st.sampled_from(["email", "E-Mail", "Email Address", "mail", " EMAIL "])
OTHER_HEADERS = st.one_of(
    st.sampled_from(
        ["first_name", "First Name", "company", "", " ", "Straße", '"quoted"', "a,b", "x\ny"]
    ),
    st.text(max_size=12),
)
ANY_HEADERS = st.one_of(EMAIL_HEADERS, OTHER_HEADERS)


@st.composite
def header_rows(draw: st.DrawFn) -> list[str]:
    """Mostly one e-mail column among others (so rows get read); now and then anything."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.lists(ANY_HEADERS, max_size=5))
    others = draw(st.lists(OTHER_HEADERS, max_size=4))
    others.insert(draw(st.integers(0, len(others))), draw(EMAIL_HEADERS))
    return others


CELLS = st.one_of(
    st.sampled_from(
        ["ann@acme.com", "Bob@Example.COM", "info@acme.com", "jörg@bücher.de", "not-an-address",
         "a@b", "", " ", "ann@acme.com ", '"', 'x"y', "a,b", "a;b", "tab\there", "two\nlines",
         "cr\ronly", "\x00", "=cmd()", "x" * 70]
    ),
    st.text(max_size=30),
    st.emails().map(str),
)  # fmt: skip
DELIMITERS = st.sampled_from([",", ";", "\t"])
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"])


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    header = draw(header_rows())
    rows = draw(st.lists(st.lists(CELLS, max_size=6), max_size=8))
    out = io.StringIO()
    out.write("\n" * draw(st.integers(0, 2)))  # blank lines before the header
    quote_all = draw(st.booleans())
    writer = csv.writer(
        out,
        delimiter=draw(DELIMITERS),
        lineterminator=draw(LINE_ENDS),
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(draw(ENCODINGS), "replace")


@fuzz()
@given(st.binary(max_size=3000))
def test_random_bytes(importer: Importer, data: bytes) -> None:
    check(importer.run(data, "leads.csv"), line_count(data))


@fuzz()
@given(st.data())
def test_csv_files(importer: Importer, data: st.DataObject) -> None:
    raw = data.draw(csv_files())
    check(importer.run(raw, "leads.csv"), line_count(raw))
    broken = data.draw(mutated(raw))
    check(importer.run(broken, "leads.csv"), line_count(broken))


# --- XLSX -----------------------------------------------------------------------------------

XLSX_CELLS = st.one_of(
    CELLS,
    st.none(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(min_value=date(1900, 3, 1), max_value=date(9999, 12, 31)),
    st.datetimes(min_value=datetime(1900, 3, 1)),  # noqa: DTZ001 - Excel cells have no zone
    st.times(),
)
# openpyxl refuses XML-illegal control characters in cells; a real file cannot hold them.
ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def xlsx_cell(value: Any) -> Any:
    return ILLEGAL.sub("?", value) if isinstance(value, str) else value


@st.composite
def xlsx_files(draw: st.DrawFn) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for _ in range(draw(st.integers(0, 2))):
        sheet.append([])  # blank rows before the header
    sheet.append([xlsx_cell(cell) for cell in draw(header_rows())])
    for row in draw(st.lists(st.lists(XLSX_CELLS.map(xlsx_cell), max_size=6), max_size=8)):
        sheet.append(row)
    if draw(st.booleans()):
        book.create_sheet("other").append(["email"])
    out = io.BytesIO()
    book.save(out)
    return rezip(zipfile.ZipFile(out), {})


# openpyxl stamps the save time into docProps/core.xml and every zip entry: examples must be
# the same bytes on every run, or hypothesis cannot replay them.
STAMP = (2026, 1, 1, 0, 0, 0)
SAVE_TIME = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*")


def rezip(source: zipfile.ZipFile, replace: dict[str, bytes | None]) -> bytes:
    """`source` again with fixed timestamps; parts in `replace` swapped (None: left out)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            data = replace[name] if name in replace else source.read(name)
            if data is not None:
                data = SAVE_TIME.sub(rb"\g<1>2026-01-01T00:00:00Z", data)
                target.writestr(zipfile.ZipInfo(name, STAMP), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


@st.composite
def broken_zips(draw: st.DrawFn, raw: bytes) -> bytes:
    """The workbook with a part left out, replaced by junk, or its bytes damaged."""
    how = draw(st.sampled_from(["drop", "junk", "bytes"]))
    if how == "bytes":
        return draw(mutated(raw))
    source = zipfile.ZipFile(io.BytesIO(raw))
    victim = draw(st.sampled_from(source.namelist()))
    junk: bytes | None = None
    if how == "junk":
        junk = draw(st.one_of(st.binary(max_size=200), st.sampled_from(
            [b"", b"<", b"<?xml version='1.0'?><x/>", b"<worksheet><sheetData><row>"]
        )))  # fmt: skip
    return rezip(source, {victim: junk})


@fuzz(examples=60)
@given(st.data())
def test_xlsx_files(importer: Importer, data: st.DataObject) -> None:
    raw = data.draw(xlsx_files())
    # XLSX rows are numbered as the sheet shows them: no more than the rows written.
    check(importer.run(raw, "leads.xlsx"), 20)
    broken = data.draw(broken_zips(raw))
    check(importer.run(broken, data.draw(st.sampled_from(["leads.xlsx", "leads.csv"]))), 10**6)
