"""Our sends as the mail that comes back refers to them: by Message-ID, provider id, recipient."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from core.records import SentRef
from storage.db import Database, run_sync, to_ms

MAX_PARAMS = 500  # values looked up per statement

_SELECT = """
SELECT s.id, s.message_id, s.mailbox_id, m.address, l.email, s.lead_id,
       s.campaign_id, c.name, s.step_no, {key}
FROM sends s
JOIN mailboxes m ON m.id = s.mailbox_id
LEFT JOIN leads l ON l.id = s.lead_id
LEFT JOIN campaigns c ON c.id = s.campaign_id
"""


def _ref(r: Any) -> SentRef:
    return SentRef(
        send_id=r[0], message_id=r[1], mailbox_id=r[2], mailbox=r[3], email=r[4],
        lead_id=r[5], campaign_id=r[6], campaign=r[7], step_no=r[8],
    )  # fmt: skip


def chunks(values: Iterable[str]) -> Iterable[list[str]]:
    """`values` without repeats, MAX_PARAMS at a time (one statement's parameters)."""
    wanted = list(dict.fromkeys(values))
    for at in range(0, len(wanted), MAX_PARAMS):
        yield wanted[at : at + MAX_PARAMS]


def rows(db: sqlite3.Connection, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
    """The rows of one query as plain tuples (no sqlite3.Row built for each)."""
    cursor = db.cursor()
    cursor.row_factory = None
    try:
        return cursor.execute(sql, params).fetchall()
    finally:
        cursor.close()


def refs_by_sync(
    db: sqlite3.Connection, column: Literal["message_id", "provider_id"], values: Iterable[str]
) -> dict[str, SentRef]:
    """The sends whose `column` is one of `values`, keyed by that value (both are indexed);
    on the connection's thread (storage.db.run_sync)."""
    out: dict[str, SentRef] = {}
    for chunk in chunks(values):
        marks = ", ".join("?" for _ in chunk)
        sql = _SELECT.format(key=f"s.{column}") + f"WHERE s.{column} IN ({marks})"
        for row in rows(db, sql, chunk):
            out[str(row[9])] = _ref(row)
    return out


async def refs_by(
    db: Database, column: Literal["message_id", "provider_id"], values: Iterable[str]
) -> dict[str, SentRef]:
    """refs_by_sync in one trip to the connection's thread."""
    wanted = list(values)
    async with db.reading() as conn:
        return await run_sync(conn, lambda sync: refs_by_sync(sync, column, wanted))


def latest_sent_to_sync(
    db: sqlite3.Connection,
    emails: Iterable[str],
    domains: Sequence[str],
    since: datetime,
    until: datetime,
) -> dict[str, SentRef]:
    """Per address (ASCII-lower-cased, as SQLite folds it): the latest mail sent to it in
    [since, until] from a mailbox on one of `domains` (any domain when empty)."""
    out: dict[str, SentRef] = {}
    names = [d.strip().lower() for d in domains]
    on_domains = ""
    if names:
        on_domains = (
            "AND m.domain_id IN (SELECT id FROM domains WHERE name IN "
            f"({', '.join('?' for _ in names)}))"
        )
    for chunk in chunks(ascii_lower(email) for email in emails):
        marks = ", ".join("?" for _ in chunk)
        # lower(email) has no index, and scanning every lead for it costs ~0.8 s a page at a
        # million leads: the window's sends are read instead (sends_sent_at), each lead by id.
        # INDEXED BY: without statistics the planner walks each mailbox's sends instead.
        select = _SELECT.replace("FROM sends s", "FROM sends s INDEXED BY sends_sent_at")
        sql = select.format(key="lower(l.email)") + (
            f"WHERE s.sent_at >= ? AND s.sent_at <= ? AND s.state = 'sent' "
            f"AND lower(l.email) IN ({marks}) {on_domains} ORDER BY s.sent_at, s.id"
        )
        for row in rows(db, sql, [to_ms(since), to_ms(until), *chunk, *names]):
            out[str(row[9])] = _ref(row)  # later rows overwrite: the latest send wins
    return out


def ascii_lower(text: str) -> str:
    """`text` with ASCII letters lower-cased only, as SQLite's lower() folds it."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
