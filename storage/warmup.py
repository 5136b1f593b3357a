"""The warm-up loop's store (SPEC 7): each day's shares and mails, and what of them went out."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime

from core.models import MailboxState, MailboxView
from core.records import WarmupMail, WarmupShare
from storage.db import Database, from_ms, opt_date, to_ms

_INSERT_MAIL = """
    INSERT INTO warmup_mails (day, mailbox_id, recipient, due_at, message_id, answers, subject,
                              thread)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO NOTHING
"""


# The mailboxes that may send today: the loop plans for these (a constant, not user input).
_POOL = "m.state IN ('active', 'warming') AND d.state = 'active' AND m.in_config = 1"

# Each mailbox's unsent new mails of a day: the answers it may still plan.
_ROOM = """
    SELECT w.mailbox_id, count(*) AS room FROM warmup_mails w
    WHERE w.day = ? AND +w.answers IS NULL
      AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.message_id = w.message_id)
    GROUP BY w.mailbox_id
"""
# The same for one mailbox: (day, mailbox_id) of the day's index, not every mailbox's day.
_ROOM_OF = _ROOM.replace("w.day = ?", "w.day = ? AND w.mailbox_id = ?")

_SHARE = "SELECT 1 FROM warmup_days WHERE mailbox_id = ? AND day = ?"

# The new mail an answer replaces: the mailbox's latest-due one of the day not yet sent.
# (`+answers`: the day's index, not the UNIQUE one on answers, whose NULLs are every new mail
# ever planned.)
_REPLACEABLE = """
    SELECT w.id FROM warmup_mails w
    WHERE w.day = ? AND w.mailbox_id = ? AND +w.answers IS NULL
      AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.message_id = w.message_id)
    ORDER BY w.due_at DESC, w.id DESC
    LIMIT 1
"""


def _mail_row(day: str, mail: WarmupMail) -> tuple[object, ...]:
    thread = json.dumps(list(mail.thread)) if mail.thread else None
    return (
        day, mail.mailbox_id, mail.recipient, to_ms(mail.due_at), mail.message_id, mail.answers,
        mail.subject or None, thread,
    )  # fmt: skip


def _mail(row: sqlite3.Row) -> WarmupMail:
    return WarmupMail(
        mailbox_id=row["mailbox_id"],
        recipient=row["recipient"],
        due_at=from_ms(row["due_at"]),
        message_id=row["message_id"],
        answers=row["answers"],
        subject=row["subject"] or "",
        thread=tuple(json.loads(row["thread"])) if row["thread"] else (),
    )


class WarmupStore:
    """What the warm-up loop keeps (engine.ports.WarmupStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def unplanned(self, day: str) -> list[int]:
        """The pool's mailboxes (see `pool`) with no share of `day` yet."""
        rows = await self._db.fetch(
            f"""
            SELECT m.id FROM mailboxes m JOIN domains d ON d.id = m.domain_id
            WHERE {_POOL}
              AND NOT EXISTS (SELECT 1 FROM warmup_days w WHERE w.mailbox_id = m.id AND w.day = ?)
            """,
            (day,),
        )
        return [int(row["id"]) for row in rows]

    async def plan_day(
        self, day: str, shares: Sequence[WarmupShare], mails: Sequence[WarmupMail]
    ) -> int:
        """Store shares of `day` and their mailboxes' new mails in one transaction.

        A mailbox that has its share already keeps it, and its mails given here are dropped.
        How many mails were stored.
        """
        async with self._db.writing() as conn:
            fresh = set()
            for share in shares:
                cursor = await conn.execute(
                    "INSERT INTO warmup_days (mailbox_id, day, volume) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (share.mailbox_id, day, share.volume),
                )
                if cursor.rowcount == 1:
                    fresh.add(share.mailbox_id)
            rows = [_mail_row(day, m) for m in mails if m.mailbox_id in fresh]
            await conn.executemany(_INSERT_MAIL, rows)
            return len(rows)

    async def plan_answers(self, day: str, mails: Sequence[WarmupMail]) -> int:
        """Store answers due on `day`, each in place of one of its mailbox's unsent new mails.

        When the mailbox's `day` is planned, the latest-due new mail gives way, so the day's
        warm-up stays at its volume (SPEC 6: the cap holds for the sum); without one left to
        replace, the answer is not planned. When it is not planned yet (an answer due
        tomorrow), the answer is stored as it is and that day's plan makes room for it
        (`answers_ahead`). A second answer to the same mail is ignored. How many were stored.
        """
        async with self._db.writing() as conn:
            stored = 0
            for mail in mails:
                share = list(await conn.execute_fetchall(_SHARE, (mail.mailbox_id, day)))
                rows = list(await conn.execute_fetchall(_REPLACEABLE, (day, mail.mailbox_id)))
                if share and not rows:
                    continue
                cursor = await conn.execute(_INSERT_MAIL, _mail_row(day, mail))
                if cursor.rowcount != 1:
                    continue  # answered already
                if share:
                    await conn.execute("DELETE FROM warmup_mails WHERE id = ?", (rows[0]["id"],))
                stored += 1
            return stored

    async def answers_ahead(self, day: str) -> dict[int, int]:
        """Answers stored for `day` before it was planned, per mailbox: its plan makes room."""
        rows = await self._db.fetch(
            "SELECT mailbox_id, count(*) AS n FROM warmup_mails "
            "WHERE day = ? AND +answers IS NOT NULL GROUP BY mailbox_id",
            (day,),
        )
        return {int(row["mailbox_id"]): int(row["n"]) for row in rows}

    async def reply_room(self, day: str, mailbox_id: int | None = None) -> dict[int, int]:
        """Each mailbox's answers still possible on `day`: its new mails not yet sent (only
        `mailbox_id`'s when given)."""
        rows = await (
            self._db.fetch(_ROOM, (day,))
            if mailbox_id is None
            else self._db.fetch(_ROOM_OF, (day, mailbox_id))
        )
        return {int(row["mailbox_id"]): int(row["room"]) for row in rows}

    async def due_mails(
        self, since: datetime, now: datetime, *, limit: int = 500
    ) -> list[WarmupMail]:
        """Mails due in [since, now] that have no send yet, the earliest first.

        `since` is the start of today: what was due before and never went out (its mailbox
        stopped, the cap was full) is dropped, not sent late in a burst.
        """
        rows = await self._db.fetch(
            """
            SELECT w.* FROM warmup_mails w
            WHERE w.due_at >= ? AND w.due_at <= ?
              AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.message_id = w.message_id)
            ORDER BY w.due_at, w.id
            LIMIT ?
            """,
            (to_ms(since), to_ms(now), limit),
        )
        return [_mail(row) for row in rows]

    async def pool(self, ids: Collection[int] | None = None) -> list[MailboxView]:
        """The mailboxes that may send today (warming or active, on an active domain); only
        those of `ids` when given (a tick's senders, not every mailbox)."""
        return await self._pool(
            "?1 IS NULL OR m.id IN (SELECT value FROM json_each(?1))",
            None if ids is None else json.dumps(sorted(ids)),
        )

    async def member(self, address: str) -> MailboxView | None:
        """The pool mailbox with this address, or None if it may not send today."""
        found = await self._pool("m.address = ?1", address)
        return found[0] if found else None

    async def _pool(self, which: str, param: object) -> list[MailboxView]:
        rows = await self._db.fetch(
            f"""
            SELECT m.id, m.address, d.name AS domain, m.state, m.daily_limit, m.warmup_start
            FROM mailboxes m JOIN domains d ON d.id = m.domain_id
            WHERE {_POOL} AND ({which})
            ORDER BY m.id
            """,
            (param,),
        )
        return [
            MailboxView(
                id=row["id"],
                address=row["address"],
                domain=row["domain"],
                state=MailboxState(row["state"]),
                daily_limit=row["daily_limit"],
                warmup_start=opt_date(row["warmup_start"]),
            )
            for row in rows
        ]
