"""The warm-up loop's IMAP side on a real Dovecot: find, rescue from spam, mark read (issue 12)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.errors import PeerUnavailable
from core.inbox import WARMUP_HEADER, classify_mail
from core.records import FolderCursor
from core.specs import ImapAccount, MailServer
from engine.ports import WarmupMailbox
from mail.imap import ImapReader, expand_uid_set, parse_copyuid, parse_header_fetch, warmup_seen
from tests.fakes.dovecot import HOST, Dovecot, dovecot_available
from tests.mail.conftest import USERS

USER = "alex@brand-news.com"
TIMEOUT = 5.0
SEEN, FLAGGED, DELETED = "\\Seen", "\\Flagged", "\\Deleted"


def account(server: Dovecot) -> ImapAccount:
    return ImapAccount(USER, MailServer(HOST, server.port, "none", USER, USERS[USER]))


def token(n: int) -> str:
    return f"{n:032x}"


def warmup(n: int, *, parent: int | None = None) -> bytes:
    """A warm-up mail as the loop sends it; with `parent`, an in-thread answer to w<parent>."""
    thread = ""
    subject = f"Catching up {n}"
    if parent is not None:
        subject = f"Re: Catching up {parent}"
        thread = (
            f"In-Reply-To: <w{parent}@brand-news.com>\r\n"
            f"References: <w0@brand-news.com> <w{parent}@brand-news.com>\r\n"
        )
    return (
        f"From: Sam Lee <sam@brand-news.com>\r\nTo: {USER}\r\nSubject: {subject}\r\n"
        f"Message-ID: <w{n}@brand-news.com>\r\n{thread}{WARMUP_HEADER}: {token(n)}\r\n\r\n"
        f"Hi Alex, how was the week? ({n})\r\n"
    ).encode()


def ordinary(n: int) -> bytes:
    """Mail of anyone else: a lead's reply or spam; the warm-up side must never touch it."""
    return (
        f"From: lead{n}@example.org\r\nTo: {USER}\r\nSubject: Re: offer {n}\r\n"
        f"Message-ID: <o{n}@example.org>\r\nIn-Reply-To: <c{n}@brand-news.com>\r\n\r\n"
        f"Interested ({n})\r\n"
    ).encode()


@pytest.fixture
async def reader() -> AsyncIterator[ImapReader]:
    imap = ImapReader(timeout=TIMEOUT)
    yield imap
    await imap.close()


async def all_flags(server: Dovecot) -> dict[str, dict[int, frozenset[str]]]:
    """Every mail's flags in both folders; \\Recent left out: any SELECT clears it (RFC 3501)."""
    return {
        folder: {
            uid: flags - {"\\Recent"} for uid, flags in (await server.flags(USER, folder)).items()
        }
        for folder in ("INBOX", "Junk")
    }


def sent(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The commands aioimaplib logged as sent (its debug lines), upper-cased."""
    return [
        record.getMessage().upper()
        for record in caplog.records
        if record.getMessage().startswith("Sending")
    ]


def test_the_reader_is_the_warm_up_port() -> None:
    port: WarmupMailbox = ImapReader()  # mypy checks the Protocol; no connection is made
    assert callable(port.warmup_candidates)


async def test_candidates_in_inbox_and_junk_leave_everything_as_it_was(
    dovecot: Dovecot, reader: ImapReader
) -> None:
    box = account(dovecot)
    for raw in (ordinary(1), warmup(1), ordinary(2), warmup(2, parent=1)):
        await dovecot.deliver(USER, raw)
    for raw in (ordinary(3), warmup(3)):
        await dovecot.deliver(USER, raw, folder="Junk")
    folders = await reader.folders(box)
    assert (folders.inbox, folders.junk) == ("INBOX", "Junk")
    before = await all_flags(dovecot)

    inbox = await reader.warmup_candidates(box, "INBOX", None)
    assert [seen.uid for seen in inbox.seen] == [2, 4]
    first, answer = inbox.seen
    assert (first.message_id, first.token, first.subject) == (
        "<w1@brand-news.com>",
        token(1),
        "Catching up 1",
    )
    assert first.in_reply_to is None and first.references == ()
    assert first.sender == "sam@brand-news.com" and not first.seen
    assert (answer.message_id, answer.in_reply_to, answer.token) == (
        "<w2@brand-news.com>",
        "<w1@brand-news.com>",
        token(2),
    )
    assert answer.references == ("<w0@brand-news.com>", "<w1@brand-news.com>")
    # Past every mail searched, the ordinary ones included.
    assert inbox.cursor == FolderCursor(await dovecot.uidvalidity(USER), 4)

    junk = await reader.warmup_candidates(box, "Junk", None)
    assert [(seen.uid, seen.token) for seen in junk.seen] == [(2, token(3))]
    # Read with BODY.PEEK and nothing else: no \Seen, nothing moved or removed.
    assert await all_flags(dovecot) == before

    # Later: only what arrived after the cursor, warm-up mail only.
    await dovecot.deliver(USER, ordinary(4))
    await dovecot.deliver(USER, warmup(5))
    later = await reader.warmup_candidates(box, "INBOX", inbox.cursor)
    assert [(seen.uid, seen.message_id) for seen in later.seen] == [(6, "<w5@brand-news.com>")]
    again = await reader.warmup_candidates(box, "INBOX", later.cursor)
    assert again.seen == () and again.cursor == later.cursor
    # The poller of replies knows the same mail as warm-up (core/inbox.py, core/ingest.py).
    assert classify_mail(warmup(1)).warmup and classify_mail(warmup(2, parent=1)).warmup
    assert not classify_mail(ordinary(1)).warmup


async def test_candidates_come_in_chunks(dovecot: Dovecot, reader: ImapReader) -> None:
    box = account(dovecot)
    for n in range(5):
        await dovecot.deliver(USER, warmup(n) if n % 2 == 0 else ordinary(n), folder="Junk")
    chunks: list[list[int]] = []
    cursor = None
    for _ in range(3):
        batch = await reader.warmup_candidates(box, "Junk", cursor, limit=2)
        chunks.append([seen.uid for seen in batch.seen])
        cursor = batch.cursor
    assert chunks == [[1, 3], [5], []]
    assert cursor is not None and cursor.last_uid == 5


async def test_mark_then_rescue_moves_exactly_the_junked_warm_up_mail(
    dovecot: Dovecot, reader: ImapReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aioimaplib.aioimaplib")
    box = account(dovecot)
    await dovecot.deliver(USER, ordinary(1))
    await dovecot.deliver(USER, warmup(1))
    for raw in (warmup(2), ordinary(2), warmup(3)):
        await dovecot.deliver(USER, raw, folder="Junk")
    found = await reader.warmup_candidates(box, "Junk", None)
    assert [seen.uid for seen in found.seen] == [1, 3]

    # Asked for every UID of the folder: only the warm-up mail is marked and moved.
    assert await reader.mark_read(box, "Junk", [1, 2, 3], star=True) == 2
    junk = await dovecot.flags(USER, "Junk")
    assert {SEEN, FLAGGED} <= junk[1] and {SEEN, FLAGGED} <= junk[3]
    assert SEEN not in junk[2] and FLAGGED not in junk[2]

    assert await reader.rescue(box, "Junk", [1, 2, 3]) == 2
    assert any("UID MOVE" in line for line in sent(caplog))
    assert not any("EXPUNGE" in line for line in sent(caplog))
    assert sorted(await dovecot.flags(USER, "Junk")) == [2]  # the ordinary spam stays
    inbox = await dovecot.flags(USER, "INBOX")
    assert len(inbox) == 4  # 2 + 2: nothing lost, nothing doubled
    rescued = await reader.warmup_candidates(box, "INBOX", None)
    assert [seen.message_id for seen in rescued.seen] == [
        "<w1@brand-news.com>",
        "<w2@brand-news.com>",
        "<w3@brand-news.com>",
    ]
    # The flags went with the mail: read and starred in the inbox.
    assert [seen.seen for seen in rescued.seen] == [False, True, True]
    assert all(FLAGGED in seen.flags for seen in rescued.seen[1:])
    # Nothing left to rescue: a second call moves nothing.
    assert await reader.rescue(box, "Junk", [1, 2, 3]) == 0
    assert sorted(await dovecot.flags(USER, "Junk")) == [2]


async def test_rescue_from_a_spam_folder_with_a_space_in_its_name(tmp_path: Path) -> None:
    if not dovecot_available():
        pytest.fail("dovecot-imapd is not installed: `make test` installs it (as root)")
    async with Dovecot(tmp_path, USERS, junk="Junk E-mail") as server:
        box = account(server)
        reader = ImapReader(timeout=TIMEOUT)
        try:
            junk = (await reader.folders(box)).junk
            assert junk == "Junk E-mail"
            await server.deliver(USER, ordinary(1), folder=junk)
            await server.deliver(USER, warmup(1), folder=junk)
            found = await reader.warmup_candidates(box, junk, None)
            uids = [seen.uid for seen in found.seen]
            assert uids == [2]
            assert await reader.mark_read(box, junk, uids, star=False) == 1
            assert await reader.rescue(box, junk, uids) == 1
            assert sorted(await server.flags(USER, junk)) == [1]
            (moved,) = (await server.flags(USER)).values()
            assert SEEN in moved
        finally:
            await reader.close()


async def test_rescue_without_move_copies_and_expunges_only_those_uids(
    dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aioimaplib.aioimaplib")
    box = account(dovecot)
    await dovecot.deliver(USER, warmup(1), folder="Junk")
    # Spam the user deleted but did not expunge yet: a bare EXPUNGE would take it too.
    await dovecot.deliver(USER, ordinary(1), folder="Junk", flags=f"({DELETED})")
    await dovecot.deliver(USER, ordinary(2), folder="Junk")
    await dovecot.deliver(USER, warmup(2), folder="Junk")
    reader = ImapReader(timeout=TIMEOUT, ignore_capabilities={"move"})
    try:
        assert await reader.rescue(box, "Junk", [1, 2, 3, 4]) == 2
        junk = await dovecot.flags(USER, "Junk")
        assert sorted(junk) == [2, 3]
        assert DELETED in junk[2] and DELETED not in junk[3]
        inbox = await reader.warmup_candidates(box, "INBOX", None)
        assert [seen.message_id for seen in inbox.seen] == [
            "<w1@brand-news.com>",
            "<w2@brand-news.com>",
        ]
        # The copies in the inbox carry no \Deleted: it was set on the originals after COPY.
        assert all(DELETED not in seen.flags for seen in inbox.seen)
    finally:
        await reader.close()
    commands = sent(caplog)
    assert any("UID COPY 1,4 " in line for line in commands), commands
    assert not any("MOVE" in line for line in commands)
    # Exactly one EXPUNGE, of exactly those UIDs: never a bare one.
    expunges = [line for line in commands if "EXPUNGE" in line]
    assert len(expunges) == 1 and "UID EXPUNGE 1,4\\R\\N" in expunges[0], expunges


async def test_rescue_without_move_or_uidplus_leaves_the_mail_and_says_so(
    dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    box = account(dovecot)
    await dovecot.deliver(USER, warmup(1), folder="Junk")
    await dovecot.deliver(USER, ordinary(1), folder="Junk")
    before = await all_flags(dovecot)
    reader = ImapReader(timeout=TIMEOUT, ignore_capabilities={"MOVE", "UIDPLUS"})
    try:
        assert await reader.rescue(box, "Junk", [1, 2]) == 0
    finally:
        await reader.close()
    assert await all_flags(dovecot) == before
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("1 warm-up mails left in Junk" in text for text in warnings), warnings
    assert not any("COPY" in line or "EXPUNGE" in line for line in sent(caplog))


async def test_mark_read_without_star_sets_seen_only(dovecot: Dovecot, reader: ImapReader) -> None:
    box = account(dovecot)
    for raw in (warmup(1), ordinary(1), warmup(2)):
        await dovecot.deliver(USER, raw)
    assert await reader.mark_read(box, "INBOX", [1, 2], star=False) == 1
    flags = await dovecot.flags(USER)
    assert SEEN in flags[1] and FLAGGED not in flags[1]
    assert SEEN not in flags[2] and SEEN not in flags[3]  # not asked / not warm-up
    assert await reader.mark_read(box, "INBOX", [], star=True) == 0
    assert await reader.mark_read(box, "INBOX", [2], star=True) == 0  # ordinary mail: no
    assert len(await dovecot.flags(USER)) == 3


# --- parsing (pure) ---------------------------------------------------------------------


def test_header_fetch_with_flags_before_or_after_the_literal() -> None:
    head = f"Message-ID: <w1@d>\r\n{WARMUP_HEADER}: {token(1)}\r\n\r\n".encode()
    lines: list[bytes | bytearray] = [
        b"1 FETCH (UID 7 FLAGS (\\Seen) BODY[HEADER.FIELDS (MESSAGE-ID X-ENTITY-REF-ID)] {52}",
        bytearray(head),
        b")",
        b"2 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID X-ENTITY-REF-ID)] {52}",
        bytearray(head),
        b" UID 9 FLAGS (\\Flagged \\Seen))",
        b"3 FETCH (FLAGS (\\Deleted))",  # an unsolicited flag update: no header, skipped
        b"Fetch completed.",
    ]
    parsed = parse_header_fetch(lines)
    assert parsed == {
        7: (frozenset({SEEN}), head),
        9: (frozenset({FLAGGED, SEEN}), head),
    }
    seen = warmup_seen(9, *parsed[9])
    assert (seen.message_id, seen.token, seen.seen) == ("<w1@d>", token(1), True)


def test_header_values_survive_8bit_and_encoded_words() -> None:
    head = (
        b"From: =?utf-8?q?M=C3=BCller=2C_Klaus?= <K.Mueller@Example.de>\r\n"
        b"Subject: Gr\xc3\xbc\xc3\x9fe \xfc\r\nReferences: <a@b>\r\n <c@d>\r\n\r\n"
    )
    seen = warmup_seen(1, frozenset(), head)
    assert seen.sender == "k.mueller@example.de"
    assert seen.subject == "Grüße \ufffd"
    assert seen.references == ("<a@b>", "<c@d>")
    assert seen.message_id is None and seen.token == ""


def test_copyuid_and_uid_sets() -> None:
    assert expand_uid_set("1:3,7,10:9") == [1, 2, 3, 7, 9, 10]
    moved = [b"OK [COPYUID 1796630793 1,3:4 1:3] Moved UIDs.", b"3 EXPUNGE", b"Move completed."]
    assert parse_copyuid(moved) == [1, 3, 4]
    assert parse_copyuid([b"[COPYUID 17 2 3] Copy completed."]) == [2]
    assert parse_copyuid([b"Copy completed."]) is None


async def test_a_dropped_server_is_peer_unavailable_then_the_rescue_goes_on(
    dovecot: Dovecot, reader: ImapReader
) -> None:
    box = account(dovecot)
    await dovecot.deliver(USER, warmup(1), folder="Junk")
    assert [s.uid for s in (await reader.warmup_candidates(box, "Junk", None)).seen] == [1]
    await dovecot.stop()
    with pytest.raises(PeerUnavailable) as down:
        await reader.rescue(box, "Junk", [1])
    assert USERS[USER] not in str(down.value)
    await dovecot.start()
    assert await reader.rescue(box, "Junk", [1]) == 1
    assert await dovecot.flags(USER, "Junk") == {}
