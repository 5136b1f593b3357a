"""Leads import (SPEC 5) against a real SQLite file: formats, checks, counts, atomicity."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import openpyxl
import pytest

from config import CampaignConfig, OutreachConfig, StepConfig
from core.leads import ImportReport, MissingRow
from core.records import Effects, Suppression
from engine import importer
from engine.importer import UnknownCampaignError, import_leads
from engine.lead_files import LeadFileError, LeadImportError, open_lead_file
from storage import leads as storage_leads
from storage.db import Database, open_db, to_ms
from storage.lead_store import LeadStore
from storage.stores import Stores

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MAIN = "main"  # its templates need first_name; company has a default
OTHER = "other"
HEADER = "email,first_name,company"


def campaign(name: str, subject: str = "Hi {{ first_name }}") -> CampaignConfig:
    """A campaign whose steps use first_name bare and company with a default."""
    return CampaignConfig(
        name=name,
        steps=[
            StepConfig(subject=subject, body="About {{ company | default('your team') }}"),
            StepConfig(body="Bump, {{ first_name }}", wait_days=3),
        ],
    )


@pytest.fixture
async def conn(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """A migrated database with two active campaigns, on a connection of the import's own."""
    connection = await open_db(tmp_path / "data" / "outreach.db")
    cfg = OutreachConfig(campaigns=[campaign(MAIN), campaign(OTHER)])
    await Stores.on(Database(connection)).config.sync_config(cfg.rules(), date(2026, 3, 2), now=NOW)
    try:
        yield connection
    finally:
        await connection.close()


async def campaign_id(conn: aiosqlite.Connection, name: str) -> int:
    rows = list(await conn.execute_fetchall("SELECT id FROM campaigns WHERE name = ?", (name,)))
    return int(rows[0][0])


async def leads(conn: aiosqlite.Connection, name: str = MAIN) -> dict[str, dict[str, str]]:
    """email -> vars of a campaign's leads."""
    rows = await conn.execute_fetchall(
        "SELECT email, vars FROM leads WHERE campaign_id = ? ORDER BY id",
        (await campaign_id(conn, name),),
    )
    return {str(row[0]): json.loads(row[1]) for row in rows}


async def lead_count(conn: aiosqlite.Connection) -> int:
    rows = list(await conn.execute_fetchall("SELECT count(*) FROM leads"))
    return int(rows[0][0])


async def add_lead(conn: aiosqlite.Connection, name: str, email: str, state: str) -> None:
    await conn.execute(
        "INSERT INTO leads (campaign_id, email, state, created_at) VALUES (?, ?, ?, ?)",
        (await campaign_id(conn, name), email, state, to_ms(NOW)),
    )


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def csv_file(tmp_path: Path, *rows: str, name: str = "leads.csv") -> Path:
    return write(tmp_path / name, "\n".join([HEADER, *rows]) + "\n")


async def run(conn: aiosqlite.Connection, path: Path, name: str = MAIN) -> ImportReport:
    report = await import_leads(LeadStore(conn), path, name, now=NOW)
    # Every row read lands in exactly one count.
    assert report.rows_read == (
        report.imported
        + report.invalid
        + report.duplicate_in_file
        + report.already_in_campaign
        + report.suppressed
        + report.held_by_other_campaign
        + report.missing_variables
    )
    await assert_connection_as_before(conn)
    return report


async def assert_connection_as_before(conn: aiosqlite.Connection) -> None:
    """The scratch database is gone and leads' CHECKs are enforced again."""
    names = [row[1] for row in await conn.execute_fetchall("PRAGMA database_list")]
    assert names in (["main"], ["main", "temp"])
    checks = list(await conn.execute_fetchall("PRAGMA ignore_check_constraints"))
    assert checks[0][0] == 0


# --- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("\ufeffE-Mail,First Name,Company\nann@acme.com,Ann,Acme\n", "utf-8"),
        ("Email;First Name;Company\nann@acme.com;Ann;Acme, Inc.\n", "utf-8"),
        ("Email\tFirst Name\tCompany\nann@acme.com\tAnn\tAcme; Inc.\n", "utf-8"),
        ("Email,First Name\r\nann@acme.com,Ann\r\n", "utf-8"),
        ("Email,First Name\rann@acme.com,Ann\r", "utf-8"),  # classic Mac line ends
        ("\n\nEmail,First Name\nann@acme.com,Ann\n", "utf-8"),
    ],
    ids=["utf8-bom", "semicolon", "tab", "crlf", "cr", "blank-lines-first"],
)
async def test_csv_dialects(
    conn: aiosqlite.Connection, tmp_path: Path, text: str, encoding: str
) -> None:
    report = await run(conn, write(tmp_path / "l.csv", text, encoding))
    assert (report.rows_read, report.imported) == (1, 1)
    stored = await leads(conn)
    assert stored["ann@acme.com"]["first_name"] == "Ann"
    if "Company" in text:
        assert stored["ann@acme.com"]["company"] in {"Acme", "Acme, Inc.", "Acme; Inc."}


async def test_cp1252_file(conn: aiosqlite.Connection, tmp_path: Path) -> None:
    text = "Email;First Name;Ort\nm@x.de;Jürgen Müller;Köln – Süd\n"
    report = await run(conn, write(tmp_path / "l.csv", text, "cp1252"))
    assert report.imported == 1
    assert (await leads(conn))["m@x.de"] == {"first_name": "Jürgen Müller", "ort": "Köln – Süd"}


async def test_cp1252_byte_far_beyond_the_first_block(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    # A prefix-based guess would have settled on UTF-8 long before this row.
    filler = "".join(f"u{i}@acme.com,Ann,{'Acme' * 20}\n" for i in range(12_000))
    path = tmp_path / "l.csv"
    path.write_bytes(
        (HEADER + "\n" + filler).encode() + "mueller@x.de,Jürgen,Müller GmbH\n".encode("cp1252")
    )
    assert path.stat().st_size > 1 << 20
    report = await run(conn, path)
    assert report.imported == 12_001
    assert (await leads(conn))["mueller@x.de"] == {"first_name": "Jürgen", "company": "Müller GmbH"}


async def test_utf8_and_cp1252_lines_in_one_file(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "l.csv"
    path.write_bytes(
        (HEADER + "\na@x.de,Zoë,Café Ü\n").encode() + "b@x.de,Zoë,Café Ü\n".encode("cp1252")
    )
    await run(conn, path)
    stored = await leads(conn)
    assert stored["a@x.de"] == stored["b@x.de"] == {"first_name": "Zoë", "company": "Café Ü"}


async def test_a_line_in_no_known_encoding_is_named(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "l.csv"
    path.write_bytes(HEADER.encode() + b"\na@x.de,Ann,Acme\nb@x.de,\x81\x8d,Acme\n")
    with pytest.raises(LeadFileError, match="line 3 is neither UTF-8 nor Windows-1252"):
        await run(conn, path)
    assert await lead_count(conn) == 0


async def test_utf16_is_refused_with_advice(conn: aiosqlite.Connection, tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "\ufeffEmail\ta\n", "utf-16-le")
    with pytest.raises(LeadFileError, match="UTF-16.*CSV UTF-8"):
        await run(conn, path)


async def test_quoted_fields_keep_delimiters_and_newlines_and_row_numbers(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path,
        'a@x.com,"Ann ""the boss""","Acme, Inc.\nBuilding 2"',
        "not-an-address,Bob,Acme",
        "b@x.com,Bo\\b,Back\\slash",
    )
    report = await run(conn, path)
    assert report.imported == 2
    # Row 2 spans two lines; the next record is still row 3, as a spreadsheet shows it.
    assert [(p.row, p.reason.split(":")[0]) for p in report.invalid_rows] == [
        (3, "'not-an-address'")
    ]
    stored = await leads(conn)
    assert stored["a@x.com"] == {
        "first_name": 'Ann "the boss"',
        "company": "Acme, Inc.\nBuilding 2",
    }
    assert stored["b@x.com"] == {"first_name": "Bo\\b", "company": "Back\\slash"}


async def test_short_and_long_rows_blank_rows_and_vars(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "l.csv",
        "Email,First Name,Company,,Notes,\n"
        "a@x.com,Ann,Acme,x,hello,extra,more\n"
        ",,,\n"
        "\n"
        "b@x.com,Bob\n"
        "  C@X.COM  ,  Cy  ,, ,\n",
    )
    report = await run(conn, path)
    assert (report.rows_read, report.imported, report.invalid) == (3, 3, 0)
    stored = await leads(conn)
    # The e-mail column is not a variable; blanks are left out; the unnamed 4th column is kept.
    assert stored == {
        "a@x.com": {"first_name": "Ann", "company": "Acme", "column_4": "x", "notes": "hello"},
        "b@x.com": {"first_name": "Bob"},
        "C@x.com": {"first_name": "Cy"},
    }


async def test_xlsx(conn: aiosqlite.Connection, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    # Spreadsheet cells hold naive local dates and times.
    day = datetime(2026, 3, 2)  # noqa: DTZ001
    sheet.append(["E-Mail", "First Name", "Employees", "Since", "Score", "Active"])
    sheet.append(["ann@acme.com", "Ann", 42.0, day, 0.25, True])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["bad address", "Bob", 7, None, None, None])
    sheet.append(["  bo@acme.com ", "Bo", 4915112345678.0, day.replace(hour=9, minute=30), None])
    path = tmp_path / "l.xlsx"
    book.save(path)
    report = await run(conn, path)
    assert (report.rows_read, report.imported, report.invalid) == (3, 2, 1)
    assert report.invalid_rows[0].row == 4
    stored = await leads(conn)
    assert stored["ann@acme.com"] == {
        "first_name": "Ann",
        "employees": "42",
        "since": "2026-03-02",
        "score": "0.25",
        "active": "TRUE",
    }
    assert stored["bo@acme.com"] == {
        "first_name": "Bo",
        "employees": "4915112345678",
        "since": "2026-03-02 09:30:00",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04 this is no workbook", "cannot read the XLSX file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, r"old binary Excel file \(\.xls\)"),
        (b"", "the file is empty"),
        (b"\n \n\r\n", "the file is empty"),
        (b"Email,First Name\n", "header row but no data rows"),
        (b"Email,First Name\n\n,\n", "header row but no data rows"),
        (b"Name,Company\nAnn,Acme\n", "no e-mail column.*'Name', 'Company'"),
        (b'email,note\na@x.com,"never closed\n' + b"x" * 100, "line 3: unexpected end of data"),
    ],
)
async def test_unusable_files_say_why(
    conn: aiosqlite.Connection, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "leads.bin"
    path.write_bytes(content)
    with pytest.raises(LeadFileError, match=message):
        await run(conn, path)
    assert await lead_count(conn) == 0


def test_empty_xlsx_sheet(tmp_path: Path) -> None:
    path = tmp_path / "l.xlsx"
    openpyxl.Workbook().save(path)
    with pytest.raises(LeadFileError, match="the file is empty"):
        open_lead_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LeadFileError, match="cannot open nope.csv"):
        open_lead_file(tmp_path / "nope.csv")


# --- checks and counts -----------------------------------------------------------------------


async def test_five_percent_invalid_rows_are_counted_with_their_rows(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    rows = [f"u{i}@acme.com,Ann,Acme" for i in range(380)]
    bad = {i: f"user{i} @acme.com" for i in range(0, 380, 19)}  # 20 rows, 5 %
    for i, text in bad.items():
        rows[i] = f"{text},Ann,Acme"
    report = await run(conn, csv_file(tmp_path, *rows))
    assert (report.rows_read, report.imported, report.invalid) == (380, 360, 20)
    assert [p.row for p in report.invalid_rows] == [i + 2 for i in range(0, 190, 19)]
    assert report.invalid_rows[0].reason == (
        "'user0 @acme.com': The email address contains invalid characters before the @-sign: SPACE."
    )


async def test_duplicates_in_file_first_occurrence_wins(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, "Ann@Acme.com,Ann,First", "ann@acme.COM,Annie,Second", "b@x.com,B,")
    report = await run(conn, path)
    assert (report.imported, report.duplicate_in_file) == (2, 1)
    assert (await leads(conn))["Ann@acme.com"] == {"first_name": "Ann", "company": "First"}


async def test_reimport_imports_nothing_and_says_already_in_campaign(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, *(f"u{i}@acme.com,Ann,Acme" for i in range(50)), "x,y,z")
    first = await run(conn, path)
    assert first.imported == 50
    again = await run(conn, path)
    assert (again.imported, again.already_in_campaign, again.invalid) == (0, 50, 1)
    # Case does not make an address new.
    upper = await run(conn, csv_file(tmp_path, "U1@ACME.COM,Ann,Acme", name="upper.csv"))
    assert upper.already_in_campaign == 1
    assert await lead_count(conn) == 50


async def test_suppressed_addresses_and_domains(conn: aiosqlite.Connection, tmp_path: Path) -> None:
    events = Stores.on(Database(conn)).events
    for entry, why in (("gone@acme.com", "unsubscribed"), ("@blocked.org", "asked"),
                       ("ünal@x.de", "bounce")):  # fmt: skip
        await events.apply(Effects(suppress=Suppression(entry, why, "test", NOW)))
    path = csv_file(
        tmp_path,
        "Gone@ACME.com,A,B",
        "anyone@blocked.org,A,B",
        "Other@Blocked.ORG,A,B",
        "ok@blocked.org.uk,A,B",
        "ÜNAL@x.de,A,B",
        "fine@acme.com,A,B",
    )
    report = await run(conn, path)
    assert (report.suppressed, report.imported) == (4, 2)
    assert set(await leads(conn)) == {"ok@blocked.org.uk", "fine@acme.com"}


@pytest.mark.parametrize("state", ["bounced", "complained", "unsubscribed"])
async def test_reimport_never_revives_a_bounced_complained_or_unsubscribed_address(
    conn: aiosqlite.Connection, tmp_path: Path, state: str
) -> None:
    await add_lead(conn, OTHER, "Lost@acme.com", state)
    # Even into the same campaign, and even with no suppression entry left.
    await add_lead(conn, MAIN, "Done@acme.com", "finished")
    report = await run(conn, csv_file(tmp_path, "lost@acme.com,A,B", "new@acme.com,A,B"))
    assert (report.suppressed, report.imported) == (1, 1)
    assert "lost@acme.com" not in await leads(conn)


async def test_address_held_by_another_active_campaign(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    await add_lead(conn, OTHER, "busy@acme.com", "queued")
    await add_lead(conn, OTHER, "talking@acme.com", "active")
    await add_lead(conn, OTHER, "done@acme.com", "finished")  # not open any more
    path = csv_file(tmp_path, "BUSY@acme.com,A,B", "talking@acme.com,A,B", "done@acme.com,A,B")
    report = await run(conn, path)
    assert (report.held_by_other_campaign, report.imported) == (2, 1)
    # A paused campaign does not hold its leads' addresses.
    await conn.execute("UPDATE campaigns SET state = 'paused' WHERE name = ?", (OTHER,))
    again = await run(conn, path)
    assert (again.held_by_other_campaign, again.imported, again.already_in_campaign) == (0, 2, 1)


async def test_missing_template_variables_are_reported_not_imported(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    path = csv_file(
        tmp_path,
        "a@x.com,Ann,",  # company has a default: fine
        "b@x.com,,Acme",
        "c@x.com,   ,Acme",
        "b@x.com,Bee,Acme",  # a duplicate: the first b@ row stands, and lacks first_name
    )
    report = await run(conn, path)
    assert (report.imported, report.missing_variables, report.duplicate_in_file) == (1, 2, 1)
    assert report.missing_rows == (MissingRow(3, ("first_name",)), MissingRow(4, ("first_name",)))
    assert set(await leads(conn)) == {"a@x.com"}


async def test_a_variable_with_no_column_holds_every_row(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    path = write(tmp_path / "l.csv", "Email,Company\na@x.com,Acme\nb@x.com,Acme\n")
    report = await run(conn, path)
    assert (report.imported, report.missing_variables) == (0, 2)
    assert report.absent_columns == ("first_name",)
    assert report.missing_rows[0] == MissingRow(2, ("first_name",))


async def test_unknown_or_disabled_campaign_lists_the_known_ones(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, "a@x.com,A,B")
    with pytest.raises(UnknownCampaignError, match="no campaign named 'nope'.*main, other"):
        await import_leads(LeadStore(conn), path, "nope", now=NOW)
    await conn.execute("UPDATE campaigns SET state = 'disabled' WHERE name = ?", (OTHER,))
    with pytest.raises(UnknownCampaignError, match="known campaigns: main$"):
        await import_leads(LeadStore(conn), path, OTHER, now=NOW)


async def test_a_broken_stored_template_stops_the_import(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    await conn.execute(
        "UPDATE steps SET body = 'Hi {{ first_name' WHERE campaign_id = ? AND step_no = 2",
        (await campaign_id(conn, MAIN),),
    )
    with pytest.raises(LeadImportError, match="step 2 has a template error: body: line 1"):
        await import_leads(LeadStore(conn), csv_file(tmp_path, "a@x.com,A,B"), MAIN, now=NOW)


async def test_leads_are_queued_at_step_one(conn: aiosqlite.Connection, tmp_path: Path) -> None:
    await run(conn, csv_file(tmp_path, "a@x.com,Ann,Acme"))
    rows = list(
        await conn.execute_fetchall(
            "SELECT state, next_step, next_due_at, mailbox_id, created_at FROM leads"
        )
    )
    assert [tuple(row) for row in rows] == [("queued", 1, None, None, to_ms(NOW))]


# --- size, progress, failures ----------------------------------------------------------------


async def test_a_25_mb_file(conn: aiosqlite.Connection, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    note = "n" * 950  # wide rows keep the row count, and so the test's time, modest
    with path.open("w", encoding="utf-8") as out:
        out.write("email,first_name,company,note\n")
        for i in range(26_000):
            address = f"User{i}@Example{i % 97}.com" if i % 50 else f"bad {i}@x"
            if i % 1000 == 999:
                address = f"user{i - 1}@EXAMPLE{(i - 1) % 97}.com"  # a duplicate
            out.write(f"{address},Ann{i},Acme {i % 13},{note}\n")
    assert path.stat().st_size > 25_000_000
    seen: list[int] = []

    async def progress(rows: int) -> None:
        seen.append(rows)

    report = await import_leads(LeadStore(conn), path, MAIN, now=NOW, progress=progress)
    assert report.rows_read == 26_000
    assert report.invalid == 26_000 // 50
    assert report.duplicate_in_file == 26
    assert report.imported == 26_000 - 520 - 26
    assert seen == [10_000, 20_000, 26_000]
    assert await lead_count(conn) == report.imported


async def test_a_failing_progress_callback_leaves_leads_untouched(
    conn: aiosqlite.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run(conn, csv_file(tmp_path, "old@x.com,A,B", name="old.csv"))
    monkeypatch.setattr(importer, "BATCH_ROWS", 100)
    calls = 0

    async def progress(rows: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("chat went away")

    path = csv_file(tmp_path, *(f"u{i}@x.com,A,B" for i in range(1000)))
    with pytest.raises(RuntimeError, match="chat went away"):
        await import_leads(LeadStore(conn), path, MAIN, now=NOW, progress=progress)
    assert set(await leads(conn)) == {"old@x.com"}
    await assert_connection_as_before(conn)
    # The connection is fit for the next import.
    assert (await run(conn, path)).imported == 1000


async def test_a_failure_in_the_final_insert_rolls_everything_back(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    await run(conn, csv_file(tmp_path, "old@x.com,A,B", name="old.csv"))
    # The leads are inserted in address order: `zz@` comes last, after all the others.
    await conn.execute(
        """
        CREATE TEMP TRIGGER boom BEFORE INSERT ON main.leads WHEN NEW.email = 'zz@x.com'
        BEGIN SELECT RAISE(ABORT, 'disk on fire'); END
        """
    )
    path = csv_file(tmp_path, *(f"u{i}@x.com,A,B" for i in range(500)), "zz@x.com,A,B")
    with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
        await import_leads(LeadStore(conn), path, MAIN, now=NOW)
    assert set(await leads(conn)) == {"old@x.com"}
    await assert_connection_as_before(conn)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        await add_lead(conn, MAIN, "x@y.com", "lost")
    # The lead counts are as before, and the insert trigger the import dropped is back.
    await conn.execute("DROP TRIGGER temp.boom")
    await run(conn, csv_file(tmp_path, "new@x.com,A,B", name="new.csv"))
    await add_lead(conn, MAIN, "plain@x.com", "queued")
    counts = await conn.execute_fetchall(
        "SELECT n FROM lead_counts JOIN campaigns ON campaigns.id = campaign_id "
        "WHERE name = ? AND lead_counts.state = 'queued'",
        (MAIN,),
    )
    assert [row[0] for row in counts] == [3]


async def cancel_mid_import(conn: aiosqlite.Connection, path: Path) -> None:
    """Start importing `path`, cancel it at its first progress report, see it end cancelled."""
    started = asyncio.Event()

    async def progress(rows: int) -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(
        import_leads(LeadStore(conn), path, MAIN, now=NOW, progress=progress)
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancelled_import_leaves_leads_untouched(
    conn: aiosqlite.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH_ROWS", 100)
    path = csv_file(tmp_path, *(f"u{i}@x.com,A,B" for i in range(1000)))
    await cancel_mid_import(conn, path)
    assert await lead_count(conn) == 0
    assert (await run(conn, path)).imported == 1000


async def test_two_imports_on_two_connections_at_once(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    second = await open_db(tmp_path / "data" / "outreach.db")
    try:
        a = csv_file(tmp_path, *(f"a{i}@x.com,A,B" for i in range(2000)), name="a.csv")
        b = csv_file(tmp_path, *(f"b{i}@x.com,A,B" for i in range(2000)), name="b.csv")
        one, two = await asyncio.gather(
            import_leads(LeadStore(conn), a, MAIN, now=NOW),
            import_leads(LeadStore(second), b, OTHER, now=NOW),
        )
    finally:
        await second.close()
    assert (one.imported, two.imported) == (2000, 2000)
    assert await lead_count(conn) == 4000


# --- the staging writer ----------------------------------------------------------------------


def mixed_rows() -> list[str]:
    """Rows touching every way a row can go, many of them repeated in other letter cases."""
    rows = []
    for i in range(3000):
        rows.append(f"User{i}@Example{i % 13}.com,Ann{i},Acme")
        if i % 7 == 0:
            rows.append(f"user{i}@EXAMPLE{i % 13}.COM,Again,Acme")  # a repeat
        if i % 11 == 0:
            rows.append(f"bad {i}@x.com,B,C")  # invalid
        if i % 13 == 0:
            rows.append(f"ünal{i}@x.de,Ü,C")  # not ASCII
        if i % 17 == 0:
            rows.append(f"nameless{i}@x.com,,C")  # lacks first_name
    return rows


def expected_counts(rows: list[str]) -> tuple[int, int, int]:
    """(invalid, duplicate in file, imported) for mixed_rows() in the MAIN campaign."""
    valid = [row for row in rows if not row.startswith("bad ")]
    firsts = {row.split(",")[0].lower(): row for row in reversed(valid)}
    lacking = sum(1 for row in firsts.values() if row.split(",")[1] == "")
    return len(rows) - len(valid), len(valid) - len(firsts), len(firsts) - lacking


def leftovers(folder: Path) -> list[Path]:
    return list(folder.iterdir())


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SQLite's temporary directory, where the scratch database lives during an import."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setenv("SQLITE_TMPDIR", str(folder))
    return folder


@pytest.mark.parametrize("process_bytes", [0, 1 << 40], ids=["process", "thread"])
async def test_both_writers_stage_the_same(
    conn: aiosqlite.Connection,
    tmp_path: Path,
    scratch: Path,
    monkeypatch: pytest.MonkeyPatch,
    process_bytes: int,
) -> None:
    monkeypatch.setattr(storage_leads, "PROCESS_BYTES", process_bytes)
    during: list[list[Path]] = []
    index = storage_leads.Stage.index

    async def spy(stage: storage_leads.Stage) -> int:
        during.append(leftovers(scratch))  # attached, so out of the directory already
        return await index(stage)

    monkeypatch.setattr(storage_leads.Stage, "index", spy)
    rows = mixed_rows()
    report = await run(conn, csv_file(tmp_path, *rows))
    assert during == [[]]
    assert (report.invalid, report.duplicate_in_file, report.imported) == expected_counts(rows)
    assert (report.rows_read, report.invalid, report.duplicate_in_file) == (len(rows), 273, 429)
    assert report.missing_variables == 177
    stored = await leads(conn)
    assert stored["User7@example7.com"] == {"first_name": "Ann7", "company": "Acme"}
    assert stored["ünal13@x.de"] == {"first_name": "Ü", "company": "C"}
    assert leftovers(scratch) == []


async def test_every_repeat_is_found_whatever_the_hash_collisions(
    conn: aiosqlite.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four slots: nearly every row is noted as a possible repeat, and checked in the index.
    monkeypatch.setattr(storage_leads._Repeats, "_BITS", 2)
    rows = mixed_rows()
    report = await run(conn, csv_file(tmp_path, *rows))
    assert (report.invalid, report.duplicate_in_file, report.imported) == expected_counts(rows)


async def test_a_failing_writer_process_fails_the_import(
    conn: aiosqlite.Connection, tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run(conn, csv_file(tmp_path, "old@x.com,A,B", name="old.csv"))
    monkeypatch.setattr(storage_leads, "PROCESS_BYTES", 0)
    monkeypatch.setattr(
        storage_leads,
        "_WRITER_BOOT",
        "import sys; sys.stdin.buffer.read(100); sys.stderr.write('disk on fire'); sys.exit(1)",
    )
    path = csv_file(tmp_path, *(f"u{i}@x.com,A,B" for i in range(20_000)))
    with pytest.raises(storage_leads.StagingError, match=r"failed \(1\): disk on fire"):
        await import_leads(LeadStore(conn), path, MAIN, now=NOW)
    assert set(await leads(conn)) == {"old@x.com"}
    await assert_connection_as_before(conn)
    assert leftovers(scratch) == []


async def test_a_cancelled_import_stops_its_writer_process(
    conn: aiosqlite.Connection, tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_leads, "PROCESS_BYTES", 0)
    monkeypatch.setattr(importer, "BATCH_ROWS", 100)
    writers: list[subprocess.Popen[bytes]] = []
    popen = subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        writers.append(popen(*args, **kwargs))
        return writers[-1]

    monkeypatch.setattr(subprocess, "Popen", spy)
    await cancel_mid_import(conn, csv_file(tmp_path, *(f"u{i}@x.com,A,B" for i in range(1000))))
    assert [writer.returncode for writer in writers] == [-signal.SIGKILL]
    assert await lead_count(conn) == 0
    assert leftovers(scratch) == []


async def test_without_a_process_the_rows_are_staged_in_a_thread(
    conn: aiosqlite.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_leads, "PROCESS_BYTES", 0)

    def no_process(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        raise PermissionError("no fork for you")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    report = await run(conn, csv_file(tmp_path, *(f"u{i}@x.com,A,B" for i in range(100))))
    assert report.imported == 100


def dead_pid() -> int:
    """The pid of a process that has ended."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(gone.stdout)


def touch_all(paths: list[Path]) -> None:
    for path in paths:
        path.write_bytes(b"")


async def test_an_import_removes_scratch_files_a_killed_import_left(
    conn: aiosqlite.Connection, tmp_path: Path, scratch: Path
) -> None:
    dead = dead_pid()  # its files are stale
    stale = [scratch / f"lead_import_{dead}_x1y2.db", scratch / f"lead_import_{dead}_x1y2.db-wal"]
    kept = [scratch / f"lead_import_{os.getpid()}_busy.db", scratch / "someone_else.db"]
    touch_all(stale + kept)
    await run(conn, csv_file(tmp_path, *mixed_rows()[:10]))
    assert sorted(leftovers(scratch)) == sorted(kept)
