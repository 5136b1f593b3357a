"""engine/uploads.py: resolving the campaign, importing leads and storing campaign files."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import openpyxl
import pytest

import bootstrap
from engine import importer
from engine.admin import AdminError
from engine.uploads import (
    Fetch,
    import_upload,
    read_campaign_upload,
    resolve_campaign,
    store_campaign_file,
    store_campaign_upload,
)
from tests.bot.data_world import data_world

CAMPAIGN_TOML = """
[[campaigns]]
name = "uploaded-one"
hours = "08:00-18:00"
[[campaigns.steps]]
subject = "Hi {{ first_name }}"
body = "Hello"
[[campaigns.steps]]
wait_days = 3
body = "Bump"
"""


def writer(content: bytes) -> Fetch:
    """A fetch that writes `content` where it is told."""

    async def fetch(path: Path) -> None:
        await asyncio.to_thread(path.write_bytes, content)

    return fetch


async def test_unknown_campaign_names_the_closest(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        assert (await resolve_campaign(w.ctx, "q4")).name == "q4"
        with pytest.raises(AdminError, match="no campaign named 'sprng-founders'; did you mean"):
            await resolve_campaign(w.ctx, "sprng-founders")


async def test_import_a_csv_with_progress(tmp_path: Path) -> None:
    rows = "".join(f"u{i}@acme.com;U{i}\n" for i in range(25_000))
    content = ("email;First Name\n" + rows + "not-an-address;X\nu1@acme.com;dup\n").encode()
    calls: list[int] = []

    async def progress(read: int) -> None:
        calls.append(read)

    async with data_world(tmp_path) as w:
        report = await import_upload(w.ctx, "q4", ".csv", writer(content), progress)
        assert (report.rows_read, report.imported, report.invalid) == (25_002, 25_000, 1)
        assert report.duplicate_in_file == 1
        assert calls and calls[-1] == 25_002
        states = await w.lead_states("q4")
        assert len(states) == 25_000 and states["u7@acme.com"] == "queued"


async def test_the_import_runs_outside_the_service_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its parsing heap would stay in the service (issue 13): this process must not import.
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("import_leads ran in the service's process")

    monkeypatch.setattr(bootstrap, "import_leads", refuse)
    monkeypatch.setattr(importer, "import_leads", refuse)
    content = ("email,first_name\n" + "".join(f"v{i}@acme.com,V{i}\n" for i in range(50))).encode()
    async with data_world(tmp_path) as w:
        report = await import_upload(w.ctx, "q4", ".csv", writer(content))
        assert (report.rows_read, report.imported) == (50, 50)
        assert len(await w.lead_states("q4")) == 50


async def test_import_an_xlsx(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email Address", "first_name"])
    sheet.append(["ann@acme.com", "Ann"])
    buffer = io.BytesIO()
    book.save(buffer)
    async with data_world(tmp_path) as w:
        report = await import_upload(w.ctx, "q4", ".xlsx", writer(buffer.getvalue()))
        assert report.imported == 1


async def test_a_bad_leads_file_is_a_message(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        with pytest.raises(AdminError, match="e-mail column"):
            await import_upload(w.ctx, "q4", ".csv", writer(b"name,company\nAnn,Acme\n"))


async def test_store_a_campaign_file(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        stored = await store_campaign_upload(w.ctx, "c.toml", writer(CAMPAIGN_TOML.encode()))
        assert (stored.name, stored.steps, stored.created) == ("uploaded-one", 2, True)
        again = await store_campaign_upload(
            w.ctx, "c.toml", writer(CAMPAIGN_TOML.replace("Bump", "Bump!").encode())
        )
        assert (again.id, again.created) == (stored.id, False)
        campaigns = {c.name: c for c in await w.stores.control.campaigns()}
        assert campaigns["uploaded-one"].origin == "upload"
        assert campaigns["uploaded-one"].hours == "08:00-18:00"


async def test_reading_a_campaign_file_stores_nothing_and_says_if_it_replaces(
    tmp_path: Path,
) -> None:
    async with data_world(tmp_path) as w:
        before = await w.stores.control.campaigns()
        first = await read_campaign_upload(w.ctx, "c.toml", writer(CAMPAIGN_TOML.encode()))
        assert (first.name, first.steps, first.replaces) == ("uploaded-one", 2, False)
        assert await w.stores.control.campaigns() == before
        stored = await store_campaign_file(w.ctx, first.text, first.source)
        assert stored.created
        again = await read_campaign_upload(w.ctx, "c.toml", writer(CAMPAIGN_TOML.encode()))
        assert again.replaces
        content = CAMPAIGN_TOML.replace("uploaded-one", "q4").encode()
        with pytest.raises(AdminError, match="'q4' is defined in the config file"):
            await read_campaign_upload(w.ctx, "c.toml", writer(content))  # refused before asking


async def test_a_campaign_file_with_errors_lists_them_placed(tmp_path: Path) -> None:
    bad = CAMPAIGN_TOML.replace('hours = "08:00-18:00"', 'hours = "08:00-18:00"\ncolour = 3')
    bad = bad.replace('subject = "Hi {{ first_name }}"\n', "")
    async with data_world(tmp_path) as w:
        with pytest.raises(AdminError) as caught:
            await store_campaign_upload(w.ctx, "c.toml", writer(bad.encode()))
    text = str(caught.value)
    assert text.startswith("c.toml has errors:")
    assert "campaigns[0] (uploaded-one).colour: unknown key 'colour'" in text
    assert "campaigns[0] (uploaded-one).steps[0].subject" in text


async def test_a_campaign_owned_by_the_config_is_refused(tmp_path: Path) -> None:
    content = CAMPAIGN_TOML.replace("uploaded-one", "q4").encode()
    async with data_world(tmp_path) as w:
        with pytest.raises(AdminError, match="'q4' is defined in the config file; change it there"):
            await store_campaign_upload(w.ctx, "c.toml", writer(content))


async def test_a_campaign_file_that_is_not_utf8(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        with pytest.raises(AdminError, match="not UTF-8"):
            await store_campaign_upload(w.ctx, "c.toml", writer(b"\xff\xfe\x00x"))
