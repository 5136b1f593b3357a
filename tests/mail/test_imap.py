"""The IMAP reader against a real Dovecot on 127.0.0.1 (SPEC 8: read, never delete or mark read)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from core.errors import LoginRefused, PeerUnavailable
from core.records import FolderCursor
from core.specs import ImapAccount, MailServer, Security
from mail.imap import ImapReader, decode_utf7, parse_fetch, parse_list, pick_junk, uid_set
from tests.fakes.dovecot import HOST, Dovecot, dovecot_available
from tests.mail.conftest import USERS

USER = "alex@brand-news.com"
PASSWORD = USERS[USER]
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 5.0  # above Dovecot's ~2 s delay before it refuses a wrong password


def account(
    server: Dovecot, *, password: str = PASSWORD, security: Security = "none", port: int = 0
) -> ImapAccount:
    return ImapAccount(USER, MailServer(HOST, port or server.port, security, USER, password))


def mail(n: int, subject: str = "Hello") -> bytes:
    # CRLF line ends: what Dovecot hands back byte for byte.
    return (
        f"From: lead{n}@example.org\r\nTo: {USER}\r\nSubject: {subject} {n}\r\n"
        f"Message-ID: <m{n}@example.org>\r\n\r\nBody {n} (with a paren) and {{3}} braces\r\n"
    ).encode()


@pytest.fixture
async def reader() -> AsyncIterator[ImapReader]:
    imap = ImapReader(timeout=TIMEOUT)
    yield imap
    await imap.close()


async def test_new_mail_only_after_the_cursor(dovecot: Dovecot, reader: ImapReader) -> None:
    box = account(dovecot)
    first = await reader.fetch_new(box, "INBOX", None)
    assert first.mails == () and first.cursor.last_uid == 0 and not first.reset

    await dovecot.deliver(USER, mail(1))
    await dovecot.deliver(USER, mail(2))
    batch = await reader.fetch_new(box, "INBOX", first.cursor)
    assert [m.raw for m in batch.mails] == [mail(1), mail(2)]
    assert batch.cursor == FolderCursor(await dovecot.uidvalidity(USER), batch.mails[-1].uid)

    # Past the last UID, `n:*` still names the last mail: it must not come back.
    again = await reader.fetch_new(box, "INBOX", batch.cursor)
    assert again.mails == () and again.cursor == batch.cursor

    await dovecot.deliver(USER, mail(3))
    later = await reader.fetch_new(box, "INBOX", batch.cursor)
    assert [m.raw for m in later.mails] == [mail(3)]
    assert later.cursor.last_uid == later.mails[0].uid > batch.cursor.last_uid


async def test_nothing_is_marked_read_or_deleted(dovecot: Dovecot, reader: ImapReader) -> None:
    for n in range(3):
        await dovecot.deliver(USER, mail(n))
    batch = await reader.fetch_new(account(dovecot), "INBOX", None)
    assert len(batch.mails) == 3
    flags = await dovecot.flags(USER)
    assert sorted(flags) == [m.uid for m in batch.mails]
    for uid, marks in flags.items():
        assert "\\Seen" not in marks and "\\Deleted" not in marks, (uid, marks)


async def test_limit_reads_in_chunks(dovecot: Dovecot, reader: ImapReader) -> None:
    box = account(dovecot)
    for n in range(5):
        await dovecot.deliver(USER, mail(n))
    seen: list[bytes] = []
    cursor = None
    sizes = []
    for _ in range(4):
        batch = await reader.fetch_new(box, "INBOX", cursor, limit=2)
        sizes.append(len(batch.mails))
        seen.extend(m.raw for m in batch.mails)
        cursor = batch.cursor
    assert sizes == [2, 2, 1, 0]
    assert seen == [mail(n) for n in range(5)]


async def test_junk_folder_by_special_use(tmp_path: Path, reader: ImapReader) -> None:
    if not dovecot_available():
        pytest.fail("dovecot-imapd is not installed: `make test` installs it (as root)")
    # A name in no list, and a decoy "Spam" without the attribute: \Junk decides.
    async with Dovecot(tmp_path, USERS, junk="Quarantine") as server:
        await server.create_folder(USER, "Spam")
        folders = await reader.folders(account(server))
        assert folders.inbox == "INBOX"
        assert folders.junk == "Quarantine"
        await server.deliver(USER, mail(1), folder="Quarantine")
        batch = await reader.fetch_new(account(server), "Quarantine", None)
        assert [m.raw for m in batch.mails] == [mail(1)]


async def test_junk_folder_by_name(tmp_path: Path, reader: ImapReader) -> None:
    if not dovecot_available():
        pytest.fail("dovecot-imapd is not installed: `make test` installs it (as root)")
    async with Dovecot(tmp_path, USERS, junk=None) as server:
        assert (await reader.folders(account(server))).junk is None
        await server.create_folder(USER, "Archive")
        await server.create_folder(USER, "Spam")
        assert (await reader.folders(account(server))).junk == "Spam"


async def test_uidvalidity_change_reads_from_the_start(
    dovecot: Dovecot, reader: ImapReader
) -> None:
    box = account(dovecot)
    await dovecot.create_folder(USER, "Replies")
    await dovecot.deliver(USER, mail(1), folder="Replies")
    await dovecot.deliver(USER, mail(2), folder="Replies")
    old = await reader.fetch_new(box, "Replies", None)
    assert len(old.mails) == 2

    await dovecot.delete_folder(USER, "Replies")
    await dovecot.create_folder(USER, "Replies")
    await dovecot.deliver(USER, mail(3), folder="Replies")
    assert await dovecot.uidvalidity(USER, "Replies") != old.cursor.uidvalidity

    fresh = await reader.fetch_new(box, "Replies", old.cursor)
    assert fresh.reset
    assert [m.raw for m in fresh.mails] == [mail(3)]
    assert fresh.cursor.uidvalidity == await dovecot.uidvalidity(USER, "Replies")
    # The UID of the only mail (1) is below the old cursor (2): still read.
    assert fresh.mails[0].uid <= old.cursor.last_uid


async def test_wrong_password_is_refused_without_the_secret(
    dovecot: Dovecot, reader: ImapReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = 'wr"ong\\Secret-42'
    started = time.monotonic()
    with pytest.raises(LoginRefused) as refused:
        await reader.fetch_new(account(dovecot, password=wrong), "INBOX", None)
    assert time.monotonic() - started < TIMEOUT
    assert "AUTHENTICATIONFAILED" in str(refused.value) or "failed" in str(refused.value)
    assert wrong not in str(refused.value) and "Secret-42" not in str(refused.value)
    # The right one (a quote and a backslash in it) logs in; neither shows in any log line.
    assert (await reader.fetch_new(account(dovecot), "INBOX", None)).mails == ()
    for record in caplog.records:
        text = record.getMessage()
        assert "Secret-42" not in text and "S3cret" not in text, text


async def test_refused_connection_is_peer_unavailable(reader: ImapReader) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    box = ImapAccount(USER, MailServer(HOST, port, "none", USER, PASSWORD))
    with pytest.raises(PeerUnavailable) as down:
        await reader.fetch_new(box, "INBOX", None)
    assert PASSWORD not in str(down.value)


async def test_killed_server_then_reconnect(dovecot: Dovecot, reader: ImapReader) -> None:
    box = account(dovecot)
    await dovecot.deliver(USER, mail(1))
    batch = await reader.fetch_new(box, "INBOX", None)
    await dovecot.stop()
    with pytest.raises(PeerUnavailable):
        await reader.fetch_new(box, "INBOX", batch.cursor)
    await dovecot.start()
    await dovecot.deliver(USER, mail(2))
    later = await reader.fetch_new(box, "INBOX", batch.cursor)
    assert [m.raw for m in later.mails] == [mail(2)]


async def test_silent_server_times_out(reader: ImapReader) -> None:
    # Accepts TCP and never greets (a TLS port spoken to in plain text looks the same).
    clients: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.append(writer)

    server = await asyncio.start_server(silent, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    quick = ImapReader(timeout=0.3)
    try:
        box = ImapAccount(USER, MailServer(HOST, port, "none", USER, PASSWORD))
        started = time.monotonic()
        with pytest.raises(PeerUnavailable, match="timed out"):
            await quick.fetch_new(box, "INBOX", None)
        assert time.monotonic() - started < 2.0
    finally:
        await quick.close()
        for writer in clients:
            writer.close()
        server.close()
        await server.wait_closed()


def tls_files(directory: Path) -> tuple[tuple[Path, Path], ssl.SSLContext]:
    """A throwaway CA's certificate for 127.0.0.1 as PEM files, and a client trusting the CA."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain, key = directory / "chain.pem", directory / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return (chain, key), client


async def test_tls_and_starttls(tmp_path: Path) -> None:
    if not dovecot_available():
        pytest.fail("dovecot-imapd is not installed: `make test` installs it (as root)")
    files, trusted = tls_files(tmp_path)
    async with Dovecot(tmp_path, USERS, tls_cert=files) as server:
        await server.deliver(USER, mail(1))
        reader = ImapReader(timeout=TIMEOUT, tls_context=trusted)
        try:
            modes: list[tuple[Security, int]] = [
                ("tls", server.tls_port),
                ("starttls", server.port),
            ]
            for security, port in modes:
                box = account(server, security=security, port=port)
                batch = await reader.fetch_new(box, "INBOX", None)
                assert [m.raw for m in batch.mails] == [mail(1)], security
        finally:
            await reader.close()
        logins = [line for line in server.log_text().splitlines() if "Login: user=" in line]
        assert len([line for line in logins if ", TLS," in line]) == 2, logins  # not deliver()
        # The system's trust store does not know the throwaway CA: no login is attempted.
        strict = ImapReader(timeout=TIMEOUT)
        try:
            with pytest.raises(PeerUnavailable):
                await strict.fetch_new(
                    account(server, security="tls", port=server.tls_port), "INBOX", None
                )
        finally:
            await strict.close()


async def test_starttls_missing_is_refused(dovecot: Dovecot, reader: ImapReader) -> None:
    # This Dovecot has no TLS: a starttls account must not fall back to plain text.
    with pytest.raises(PeerUnavailable, match="STARTTLS"):
        await reader.fetch_new(account(dovecot, security="starttls"), "INBOX", None)
    assert "Login: user=" not in dovecot.log_text()


# --- the parsers, on shapes other servers send ------------------------------------------


def test_parse_fetch_takes_uid_after_the_body() -> None:
    lines: list[bytes | bytearray] = [
        b"1 FETCH (BODY[] {5}",
        bytearray(b"hello"),
        b" UID 7)",
        b"2 FETCH (UID 9 FLAGS (\\Recent) BODY[] {2}",
        bytearray(b"hi"),
        b")",
        b"3 FETCH (FLAGS (\\Seen))",  # unsolicited: no body
        b"Fetch completed.",
    ]
    assert parse_fetch(lines) == {7: b"hello", 9: b"hi"}


def test_parse_list_and_pick_junk() -> None:
    gmail = [
        b'(\\HasNoChildren) "/" "INBOX"',
        b'(\\HasChildren \\Noselect) "/" "[Gmail]"',
        b'(\\HasNoChildren \\Junk) "/" "[Gmail]/Spam"',
        b"LIST completed",
    ]
    assert pick_junk(parse_list(gmail)) == "[Gmail]/Spam"
    outlook_fr: list[bytes | bytearray] = [
        b'() "/" "Courrier ind&AOk-sirable"',
        b'() "/" {5}',
        bytearray(b"Inbox"),
        b"ok",
    ]
    entries = parse_list(outlook_fr)
    assert [name for _, name in entries] == ["Courrier ind&AOk-sirable", "Inbox"]
    assert pick_junk(entries) == "Courrier ind&AOk-sirable"
    assert decode_utf7("Courrier ind&AOk-sirable") == "Courrier indésirable"
    assert pick_junk(parse_list([b'() "." "INBOX.Junk"', b"done"])) == "INBOX.Junk"
    assert pick_junk(parse_list([b'() "." "INBOX.Drafts"', b"done"])) is None


def test_uid_set_compresses_runs() -> None:
    assert uid_set([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert uid_set([4]) == "4"


async def test_drop_mid_command_fails_at_once(reader: ImapReader) -> None:
    # aioimaplib leaves a command pending forever when the connection ends under it: the
    # reader must notice the drop itself, well before its timeout.
    async def drops_at_select(reader_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
        while line := await reader_.readline():
            tag, _, command = line.decode().partition(" ")
            verb = command.split(" ", 1)[0].strip().upper()
            if verb == "CAPABILITY":
                writer.write(f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n".encode())
            elif verb == "LOGIN":
                writer.write(f"{tag} OK logged in\r\n".encode())
            else:
                break
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(drops_at_select, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        box = ImapAccount(USER, MailServer(HOST, port, "none", USER, PASSWORD))
        started = time.monotonic()
        with pytest.raises(PeerUnavailable, match="dropped the connection during SELECT"):
            await reader.fetch_new(box, "INBOX", None)
        assert time.monotonic() - started < TIMEOUT / 2
    finally:
        server.close()
        await server.wait_closed()


async def test_standalone_runner_prints_its_port_and_stops(tmp_path: Path) -> None:
    if not dovecot_available():
        pytest.fail("dovecot-imapd is not installed: `make test` installs it (as root)")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.dovecot",
        "--dir",
        str(tmp_path),
        "--user",
        f"{USER}:{PASSWORD}",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 10)
        word, port = line.decode().split()
        assert word == "listening"
        imap = ImapReader(timeout=TIMEOUT)
        try:
            box = ImapAccount(USER, MailServer(HOST, int(port), "none", USER, PASSWORD))
            assert (await imap.folders(box)).junk == "Junk"
        finally:
            await imap.close()
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 15) == 0
    assert (tmp_path / "dovecot.log").exists()
