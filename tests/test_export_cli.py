"""`main.py export --campaign X FILE`: the CSV /export sends, written from the database alone."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from main import main
from tests.bot.data_world import data_world
from tests.engine.test_export import HEADER, arrange


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings naming the test's database and nothing else; the DB's path."""
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for name in ("BOT_TOKEN", "ADMIN_IDS", "ALERT_CHAT_IDS", "OUTREACH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "bot.db"  # data_world's file
    monkeypatch.setenv("DATABASE_PATH", str(db))
    return db


async def test_export_writes_the_rows_and_refuses_to_overwrite(
    tmp_path: Path, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with data_world(tmp_path) as world:
        expected = await arrange(world)
    out = tmp_path / "q4.csv"
    assert await _main(["export", "--campaign", "q4", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote 5 lead(s) of q4 to {out}\n"
    with out.open(encoding="utf-8", newline="") as stream:
        assert list(csv.reader(stream)) == [HEADER, *expected]
    assert await _main(["export", "--campaign", "q4", str(out)]) == 1
    assert capsys.readouterr().out == f"{out} exists; --force replaces it\n"
    assert await _main(["export", "--campaign", "q5", str(tmp_path / "q5.csv")]) == 1
    assert "no campaign named 'q5'; did you mean q4?" in capsys.readouterr().out
    assert not (tmp_path / "q5.csv").exists()


def test_without_a_database_nothing_is_created(
    tmp_path: Path, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--campaign", "q4", str(tmp_path / "q4.csv")]) == 1
    assert capsys.readouterr().out == f"no database at {env}; check DATABASE_PATH\n"
    assert not env.exists()


async def _main(argv: list[str]) -> int:
    """main() runs its own event loop: off this test's loop, in a thread."""
    return await asyncio.to_thread(main, argv)
