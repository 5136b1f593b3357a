"""The leads import's staging writer: its protocol, and the note of possible repeats."""

from __future__ import annotations

import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from storage import leads as storage_leads

TABLES = [
    (
        "execute",
        "CREATE TABLE rows (row_no INTEGER PRIMARY KEY, email TEXT NOT NULL, vars TEXT NOT NULL,"
        " missing TEXT, ukey TEXT)",
    ),
    ("execute", "CREATE TABLE maybe_repeats (row_no INTEGER PRIMARY KEY, email TEXT)"),
]


def run_writer(path: Path, frames: list[tuple[object, ...]]) -> subprocess.CompletedProcess[bytes]:
    """The staging process as Stage starts it, fed `frames`."""
    data = b""
    for frame in frames:
        body = pickle.dumps(frame)
        data += len(body).to_bytes(8, "little") + body
    return subprocess.run(
        [sys.executable, "-c", storage_leads._WRITER_BOOT, str(path), str(storage_leads._ROOT)],
        input=data,
        capture_output=True,
        check=False,
        timeout=60,
    )


def test_the_writer_stages_rows_and_notes_repeats(tmp_path: Path) -> None:
    path = tmp_path / "scratch.db"
    emails = ["a@x.com", "", "b@x.com", "A@X.com", "c@x.com"]  # '' is a row not staged
    frames: list[tuple[object, ...]] = [
        *TABLES,
        ("rows", 2, "\n".join(emails), "\n".join(f'{{"n":"{i}"}}' for i in range(5))),
        ("many", "UPDATE rows SET missing = ?, ukey = ? WHERE row_no = ?", [("name", None, 4)]),
        ("commit",),
    ]
    done = run_writer(path, frames)
    assert (done.returncode, done.stderr) == (0, b"")
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT * FROM rows ORDER BY row_no").fetchall() == [
            (2, "a@x.com", '{"n":"0"}', None, None),
            (4, "b@x.com", '{"n":"2"}', "name", None),
            (5, "A@X.com", '{"n":"3"}', None, None),
            (6, "c@x.com", '{"n":"4"}', None, None),
        ]
        noted = db.execute("SELECT row_no, email FROM maybe_repeats").fetchall()
        assert (5, "A@X.com") in noted
    finally:
        db.close()


def test_a_writer_whose_input_ends_without_commit_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "scratch.db"
    path.touch()
    done = run_writer(path, [*TABLES, ("rows", 2, "a@x.com", "{}")])
    assert done.returncode == 1
    assert b"EOFError: the input ended before the commit" in done.stderr
    assert not path.exists()


def test_a_writer_that_fails_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "scratch.db"
    path.touch()
    done = run_writer(path, [*TABLES, ("rows", 2, "a@x.com\nb@x.com", "{}"), ("commit",)])
    assert done.returncode == 1
    assert b"ValueError: 2 addresses but 1 vars in rows from 2" in done.stderr
    assert not path.exists()


_ADDRESSES = st.lists(
    st.one_of(st.sampled_from(["", "ann@x.com", "ANN@X.COM", "bo@y.io", "Zoë@z.de"]), st.emails()),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ADDRESSES, min_size=1, max_size=4), st.integers(1, 12))
def test_every_repeat_is_noted_whatever_the_collisions(chunks: list[list[str]], bits: int) -> None:
    class Small(storage_leads._Repeats):
        _BITS = bits

    repeats = Small()
    noted: set[int] = set()
    seen: set[str] = set()
    row = 2
    for chunk in chunks:
        noted |= {row_no for row_no, _ in repeats.note(row, chunk)}
        for address in chunk:
            # SQLite's lower() folds ASCII letters only: the key repeats are matched on.
            key = "".join(c.lower() if c.isascii() else c for c in address)
            if address and key in seen:
                assert row in noted
            seen.add(key)
            row += 1
