"""A database that cannot be used: one line naming DATABASE_PATH and what to do (SPEC 3)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from storage.db import StorageError, open_db
from tests.test_check_cli import EXAMPLE, ROOT, example_env


def one_line(exc: pytest.ExceptionInfo[StorageError], path: Path) -> str:
    text = str(exc.value)
    assert "\n" not in text
    assert f"DATABASE_PATH {path}" in text
    return text


def write_junk(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is a spreadsheet, not a database\n" * 200)


async def test_a_file_that_is_not_a_database(db_path: Path) -> None:
    write_junk(db_path)
    with pytest.raises(StorageError) as exc:
        await open_db(db_path)
    assert "restore it from a backup" in one_line(exc, db_path)


async def test_a_folder_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "outreach.db"
    with pytest.raises(StorageError) as exc:
        await open_db(path)
    assert "set DATABASE_PATH to a writable place" in one_line(exc, path)


async def test_a_newer_schema_names_the_path(db_path: Path) -> None:
    conn = await open_db(db_path)
    await conn.execute("PRAGMA user_version = 999")
    await conn.close()
    with pytest.raises(StorageError) as exc:
        await open_db(db_path)
    assert "upgrade the program" in one_line(exc, db_path)


@pytest.mark.parametrize("content", [b"", b"someone else's notes\n"])
async def test_a_symlink_is_refused_and_its_target_left_alone(
    tmp_path: Path, content: bytes
) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(content)
    target.chmod(0o644)
    link = tmp_path / "outreach.db"
    link.symlink_to(target)
    with pytest.raises(StorageError) as exc:
        await open_db(link)
    assert "symbolic link" in one_line(exc, link)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_bytes() == content


async def damaged(db_path: Path) -> None:
    """A database whose filler table's root page is overwritten: it opens, but is damaged."""
    conn = await open_db(db_path)
    await conn.execute("CREATE TABLE filler (x TEXT)")
    await conn.executemany("INSERT INTO filler VALUES (?)", [("y" * 200,) for _ in range(2000)])
    rows = list(await conn.execute_fetchall(
        "SELECT rootpage FROM sqlite_master WHERE name = 'filler'"))  # fmt: skip
    page_size = list(await conn.execute_fetchall("PRAGMA page_size"))[0][0]
    await conn.close()
    with db_path.open("r+b") as f:
        f.seek((rows[0][0] - 1) * page_size + 8)
        f.write(b"\xff" * 64)


async def test_a_damaged_file_fails_the_check_at_start(db_path: Path) -> None:
    await damaged(db_path)
    with pytest.raises(StorageError) as exc:
        await open_db(db_path, verify=True)
    assert "integrity check" in one_line(exc, db_path)


def test_the_cli_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    db_path = tmp_path / "outreach.db"
    db_path.write_bytes(b"not a database at all\n" * 300)
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "status"],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            **example_env(),
            "OUTREACH_CONFIG": str(EXAMPLE),
            "DATABASE_PATH": str(db_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: DATABASE_PATH {db_path} is not a usable SQLite database")
