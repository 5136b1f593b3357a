"""IMAP reader over aioimaplib: new mail of a folder after a cursor; never deletes or marks read,
except for the warm-up loop's own mail, which it finds, moves out of spam and marks read.

aioimaplib (2.0) is a thin protocol layer and leaves a few things to its caller, handled here:
- a dropped connection never fails a pending command (it only calls `conn_lost_cb`), so every
  command races the connection's end and a timeout;
- no STARTTLS: the command is sent and the transport upgraded with `loop.start_tls`;
- LOGIN sends the user name as it is and scrubs only the raw password from its debug log,
  not the quoted form it writes: the name is quoted here and LOGIN lines are kept out of logs;
  AUTHENTICATE XOAUTH2 scrubs the token but not its base64 form: those lines are kept out too;
- a refused XOAUTH2 gets a continuation (`+ <base64 JSON error>`) that aioimaplib leaves
  unanswered until its timeout: it is answered here with the empty line the server waits for;
- responses are raw lines (bytes) and literals (bytearray): LIST, SELECT, SEARCH, FETCH and
  COPYUID are parsed here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import parseaddr
from typing import Any, TypeVar

import aioimaplib

from core.connect import LoginResult, Verdict
from core.errors import LoginRefused, PeerUnavailable
from core.inbox import WARMUP_HEADER
from core.records import (
    FetchedMail,
    FolderBatch,
    FolderCursor,
    MailFolders,
    WarmupBatch,
    WarmupSeen,
)
from core.specs import ImapAccount
from mail.oauth import OAuthTokens

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# The spam folder by name when the server marks none \Junk (RFC 6154), most usual first:
# compared case-insensitively with the whole name, then with its last level.
JUNK_NAMES = (
    "Junk",
    "Spam",
    "Junk E-mail",
    "Junk Email",
    "Junk-E-Mail",  # Outlook, German
    "[Gmail]/Spam",
    "[Google Mail]/Spam",
    "INBOX.Junk",
    "INBOX.Spam",
    "INBOX/Junk",
    "INBOX/Spam",
    "Bulk Mail",  # Yahoo
    "Bulk",
    "Courrier indésirable",  # Outlook, French
    "Correo no deseado",  # Outlook, Spanish
    "Posta indesiderata",  # Outlook, Italian
    "Spamverdacht",  # GMX, web.de
)

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]", re.IGNORECASE)
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]", re.IGNORECASE)
_EXISTS = re.compile(rb"^(\d+) EXISTS", re.IGNORECASE)
_FETCH_START = re.compile(rb"^\d+ FETCH \(", re.IGNORECASE)
_FETCH_UID = re.compile(rb"[( ]UID (\d+)", re.IGNORECASE)
_BODY_LITERAL = re.compile(rb"BODY\[\] \{\d+\}$", re.IGNORECASE)
_HEADER_LITERAL = re.compile(rb"BODY\[HEADER\.FIELDS \([^)]*\)\] \{\d+\}$", re.IGNORECASE)
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)", re.IGNORECASE)
_COPYUID = re.compile(rb"\[COPYUID \d+ ([\d:,]+) [\d:,]+\]", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]+>")
# What the warm-up loop reads of its mail: enough to check the token and answer in-thread.
WARMUP_FIELDS = ("MESSAGE-ID", "IN-REPLY-TO", "REFERENCES", "SUBJECT", "FROM", WARMUP_HEADER)
# The search key of warm-up mail: an empty string matches every mail having the header
# (RFC 3501 6.4.4 HEADER).
_WARMUP_KEY = f'HEADER {WARMUP_HEADER} ""'
# aioimaplib strips the response name of untagged replies to its async commands (LIST,
# SEARCH) but not of FETCH or of what a sync command (SELECT) gets: accept both forms.
_LIST_HEAD = re.compile(rb'^(?:LIST )?\(([^)]*)\) (NIL|"(?:[^"\\]|\\.)*") ?(.*)$', re.IGNORECASE)


class _LoginLinesOut(logging.Filter):
    """Drop aioimaplib's debug lines of a login: its scrub misses a quoted password and the
    base64 form of an XOAUTH2 token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return " LOGIN " not in message and " AUTHENTICATE " not in message


logging.getLogger("aioimaplib.aioimaplib").addFilter(_LoginLinesOut())


@dataclass(slots=True)
class _Session:
    account: ImapAccount
    client: Any = None  # aioimaplib.IMAP4 (untyped library)
    lost: asyncio.Event = field(default_factory=asyncio.Event)


class ImapReader:
    """One logged-in connection per account, re-opened when it drops; reads with BODY.PEEK."""

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        tokens: OAuthTokens | None = None,
        ignore_capabilities: Collection[str] = (),
    ) -> None:
        self._timeout = timeout  # connect, each command, and silence inside a long FETCH
        self._tls_context = tls_context  # None: the system's trust store, hostname checked
        # Access tokens of the XOAUTH2 logins; shared with the SMTP sender when given.
        self._own_tokens = tokens is None
        self._tokens = tokens if tokens is not None else OAuthTokens(timeout=timeout)
        # Capabilities taken as absent whatever the server says: a server known to get MOVE
        # wrong is given the COPY path (and tests reach the fallbacks through it).
        self._ignored = frozenset(name.upper() for name in ignore_capabilities)
        self._pool: dict[str, _Session] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def folders(self, account: ImapAccount) -> MailFolders:
        """The inbox and the spam folder: LIST's \\Junk, else the first usual name found."""
        async with self._lock(account):
            session = await self._session(account)
            client = session.client
            pattern = '"*"'
            if {"SPECIAL-USE", "LIST-EXTENDED"} <= set(client.protocol.capabilities):
                pattern = '"*" RETURN (SPECIAL-USE)'
            response = await self._command(session, client.list('""', pattern), "LIST")
            self._expect_ok(session, response, "LIST")
            return MailFolders(junk=pick_junk(parse_list(response.lines)))

    async def fetch_new(
        self, account: ImapAccount, folder: str, after: FolderCursor | None, *, limit: int = 200
    ) -> FolderBatch:
        """Up to `limit` mails after `after` (from the start when None or UIDVALIDITY changed)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        async with self._lock(account):
            session = await self._session(account)
            client = session.client
            uidvalidity, uidnext, exists = await self._select(session, folder)
            reset = after is not None and after.uidvalidity != uidvalidity
            last = after.last_uid if after is not None and not reset else 0
            empty = FolderBatch(folder, FolderCursor(uidvalidity, last), (), reset)
            if exists == 0 or (uidnext is not None and uidnext <= last + 1):
                return empty
            # `last+1:*` names the highest UID even when it is below last+1 (RFC 3501 6.4.8):
            # keep only UIDs past the cursor.
            found = await self._command(
                session, client.uid_search(f"UID {last + 1}:*", charset=None), "UID SEARCH"
            )
            self._expect_ok(session, found, "UID SEARCH")
            uids = sorted(uid for uid in parse_search(found.lines) if uid > last)[:limit]
            if not uids:
                return empty
            fetched = await self._command(
                session,
                client.uid("fetch", uid_set(uids), "(UID BODY.PEEK[])"),
                "UID FETCH",
                untimed=True,  # aioimaplib's own timer: silence this long, not total time
            )
            self._expect_ok(session, fetched, "UID FETCH")
            wanted = set(uids)
            mails = tuple(
                FetchedMail(uid, raw)
                for uid, raw in sorted(parse_fetch(fetched.lines).items())
                if uid in wanted
            )
            # A UID of the chunk that vanished between SEARCH and FETCH (expunged) is gone
            # for good: the cursor passes it too.
            return FolderBatch(folder, FolderCursor(uidvalidity, uids[-1]), mails, reset)

    async def warmup_candidates(
        self, account: ImapAccount, folder: str, since: FolderCursor | None, *, limit: int = 200
    ) -> WarmupBatch:
        """Up to `limit` mails with the warm-up header after `since`: headers and flags only,
        read with BODY.PEEK (left unread); from the start when None or UIDVALIDITY changed."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        async with self._lock(account):
            session = await self._session(account)
            client = session.client
            uidvalidity, uidnext, exists = await self._select(session, folder)
            reset = since is not None and since.uidvalidity != uidvalidity
            last = since.last_uid if since is not None and not reset else 0
            # Every UID below UIDNEXT is searched: the next look starts past them all, so
            # ordinary mail is not searched again and again.
            searched = max(last, uidnext - 1) if uidnext is not None else last
            if exists == 0 or (uidnext is not None and uidnext <= last + 1):
                return WarmupBatch(folder, FolderCursor(uidvalidity, searched), (), reset)
            found = await self._command(
                session,
                client.uid_search(f"UID {last + 1}:* {_WARMUP_KEY}", charset=None),
                "UID SEARCH",
            )
            self._expect_ok(session, found, "UID SEARCH")
            hits = sorted(uid for uid in parse_search(found.lines) if uid > last)
            uids = hits[:limit]
            # A full chunk stops at its last mail; otherwise past all searched (and any later
            # warm-up mail the search caught).
            cursor = uids[-1] if len(hits) > limit else max([searched, *uids])
            if not uids:
                return WarmupBatch(folder, FolderCursor(uidvalidity, cursor), (), reset)
            fields = " ".join(WARMUP_FIELDS)
            fetched = await self._command(
                session,
                client.uid(
                    "fetch", uid_set(uids), f"(UID FLAGS BODY.PEEK[HEADER.FIELDS ({fields})])"
                ),
                "UID FETCH",
            )
            self._expect_ok(session, fetched, "UID FETCH")
            wanted = set(uids)
            seen = tuple(
                warmup_seen(uid, flags, head)
                for uid, (flags, head) in sorted(parse_header_fetch(fetched.lines).items())
                if uid in wanted
            )
            return WarmupBatch(folder, FolderCursor(uidvalidity, cursor), seen, reset)

    async def rescue(
        self, account: ImapAccount, junk: str, uids: Sequence[int], *, inbox: str = "INBOX"
    ) -> int:
        """Move those of `uids` that are warm-up mail from `junk` to `inbox`; how many moved.

        UID MOVE (RFC 6851) when the server has it; else UID COPY, \\Deleted and UID EXPUNGE
        of exactly those UIDs (UIDPLUS, RFC 4315). Without either they stay where they are:
        a bare EXPUNGE would also remove whatever else the user marked \\Deleted there.
        """
        if not uids:
            return 0
        async with self._warmup_mail(account, junk, uids) as (session, mine):
            if not mine:
                return 0
            client = session.client
            have = self._capabilities(session)
            targets = uid_set(mine)
            if "MOVE" in have:
                moved = await self._command(
                    session, client.uid("move", targets, quote(inbox)), "UID MOVE"
                )
                self._expect_ok(session, moved, f"UID MOVE to {inbox}")
                return _moved_count(moved.lines, len(mine))
            if "UIDPLUS" not in have:
                log.warning(
                    "imap %s: %d warm-up mails left in %s: the server offers neither MOVE nor "
                    "UIDPLUS, and a bare EXPUNGE could remove other mail",
                    account.address, len(mine), junk,
                )  # fmt: skip
                return 0
            copied = await self._command(
                session, client.uid("copy", targets, quote(inbox)), "UID COPY"
            )
            self._expect_ok(session, copied, f"UID COPY to {inbox}")
            # Copied: from here on a failure leaves a second copy in spam, never a lost mail.
            flagged = await self._command(
                session, client.uid("store", targets, "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE"
            )
            self._expect_ok(session, flagged, "UID STORE \\Deleted")
            gone = await self._command(session, client.uid("expunge", targets), "UID EXPUNGE")
            self._expect_ok(session, gone, "UID EXPUNGE")
            return _moved_count(copied.lines, len(mine))

    async def mark_read(
        self, account: ImapAccount, folder: str, uids: Sequence[int], *, star: bool
    ) -> int:
        """Mark the warm-up mail among `uids` \\Seen (\\Flagged too when `star`): how many.

        \\Flagged is the star of Gmail and the flag of Outlook and most clients; read and
        starred mail is what mailbox providers take for wanted mail.
        """
        if not uids:
            return 0
        async with self._warmup_mail(account, folder, uids) as (session, mine):
            if not mine:
                return 0
            flags = "(\\Seen \\Flagged)" if star else "(\\Seen)"
            stored = await self._command(
                session,
                session.client.uid("store", uid_set(mine), "+FLAGS.SILENT", flags),
                "UID STORE",
            )
            self._expect_ok(session, stored, "UID STORE \\Seen")
            return len(mine)

    async def probe(self, account: ImapAccount) -> LoginResult:
        """Log in to the account and out again (greeting, STARTTLS or TLS, LOGIN); reads nothing."""
        # Not pooled: a check leaves no session open behind it.
        try:
            session = await self._connect(account)
        except LoginRefused as exc:
            return LoginResult(Verdict.REFUSED, str(exc))
        except PeerUnavailable as exc:
            return LoginResult(Verdict.UNREACHABLE, str(exc))
        await self._logout(session)
        return LoginResult(Verdict.OK)

    async def close(self) -> None:
        """Log out of every pooled connection."""
        sessions = list(self._pool.values())
        self._pool.clear()
        await asyncio.gather(*(self._logout(session) for session in sessions))
        if self._own_tokens:
            await self._tokens.close()

    # --- folders ----------------------------------------------------------------------

    async def _select(self, session: _Session, folder: str) -> tuple[int, int | None, int | None]:
        """SELECT `folder`: its UIDVALIDITY, UIDNEXT and EXISTS."""
        # SELECT, not EXAMINE: aioimaplib only allows UID commands in its SELECTED state,
        # which EXAMINE does not set. BODY.PEEK keeps \Seen off all the same.
        client = session.client
        selected = await self._command(session, client.select(quote(folder)), "SELECT")
        self._expect_ok(session, selected, f"SELECT {folder}")
        uidvalidity, uidnext, exists = parse_select(selected.lines)
        if uidvalidity is None:
            self._drop(session)
            raise PeerUnavailable(f"IMAP {session.account.address}: {folder} has no UIDVALIDITY")
        return uidvalidity, uidnext, exists

    @contextlib.asynccontextmanager
    async def _warmup_mail(
        self, account: ImapAccount, folder: str, uids: Sequence[int]
    ) -> AsyncIterator[tuple[_Session, list[int]]]:
        """The account's session, locked, with `folder` selected, and the warm-up mail among
        `uids` in it."""
        async with self._lock(account):
            session = await self._session(account)
            await self._select(session, folder)
            yield session, await self._warmup_only(session, uids)

    async def _warmup_only(self, session: _Session, uids: Sequence[int]) -> list[int]:
        """Those of `uids` in the selected folder that carry the warm-up header."""
        wanted = sorted(set(uids))
        found = await self._command(
            session,
            session.client.uid_search(f"UID {uid_set(wanted)} {_WARMUP_KEY}", charset=None),
            "UID SEARCH",
        )
        self._expect_ok(session, found, "UID SEARCH")
        asked = set(wanted)
        return sorted({uid for uid in parse_search(found.lines) if uid in asked})

    def _capabilities(self, session: _Session) -> set[str]:
        have = {str(name).upper() for name in session.client.protocol.capabilities}
        return have - self._ignored

    # --- connections ------------------------------------------------------------------

    def _lock(self, account: ImapAccount) -> asyncio.Lock:
        return self._locks.setdefault(account.address, asyncio.Lock())

    async def _session(self, account: ImapAccount) -> _Session:
        session = self._pool.get(account.address)
        if session is not None and not session.lost.is_set() and session.account == account:
            return session
        if session is not None:
            self._drop(session)
        session = await self._connect(account)
        self._pool[account.address] = session
        return session

    async def _connect(self, account: ImapAccount) -> _Session:
        server = account.server
        session = _Session(account)
        tls = self._context() if server.security == "tls" else None

        def lost(_: Exception | None) -> None:
            session.lost.set()

        session.client = aioimaplib.IMAP4(
            host=server.host,
            port=server.port,
            timeout=self._timeout,
            conn_lost_cb=lost,
            ssl_context=tls,
        )
        client = session.client
        try:
            await self._command(session, client._client_task, "connect")
            await self._command(session, client.wait_hello_from_server(), "greeting")
            if server.security == "starttls":
                await self._starttls(session)
            if server.oauth is None:
                response = await self._command(
                    session, client.login(quote(server.username), server.password), "LOGIN"
                )
            else:
                response = await self._xoauth2(session)
            if response.result != "OK":
                reply = self._scrub(session, _text(response.lines))
                self._drop(session)
                raise LoginRefused(
                    f"IMAP login to {server.host} refused: {response.result} {reply}"
                )
            # SPECIAL-USE (and MOVE) show only after login on Dovecot: ask again.
            await self._command(session, client.protocol.capability(), "CAPABILITY")
        except BaseException:
            self._drop(session)
            raise
        log.debug("imap %s: logged in to %s:%s", account.address, server.host, server.port)
        return session

    async def _xoauth2(self, session: _Session) -> Any:
        """AUTHENTICATE XOAUTH2 with the account's access token; once more with a new one if
        the server turns a cached token down."""
        server = session.account.server
        oauth = server.oauth
        assert oauth is not None
        protocol = session.client.protocol
        unanswered = protocol._continuation

        def continuation(line: bytes) -> None:
            pending = protocol.pending_sync_command
            if pending is not None and pending.name == "AUTHENTICATE":
                # The error challenge of a refused token: the empty reply ends the exchange
                # and the server answers NO (Google's and Microsoft's XOAUTH2 docs).
                protocol.transport.write(b"\r\n")
                return
            unanswered(line)

        protocol._continuation = continuation
        token = await self._tokens.access_token(oauth)
        step = session.client.xoauth2(server.username, token)
        response = await self._command(session, step, "AUTHENTICATE")
        if response.result == "NO":
            token = await self._tokens.access_token(oauth, refused=token)
            step = session.client.xoauth2(server.username, token)
            response = await self._command(session, step, "AUTHENTICATE")
        return response

    async def _starttls(self, session: _Session) -> None:
        client = session.client
        protocol = client.protocol
        server = session.account.server
        if "STARTTLS" not in protocol.capabilities:
            self._drop(session)
            raise PeerUnavailable(f"IMAP {server.host}:{server.port} does not offer STARTTLS")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await self._command(session, protocol.execute(command), "STARTTLS")
        self._expect_ok(session, response, "STARTTLS")
        loop = asyncio.get_running_loop()
        upgrade = loop.start_tls(
            protocol.transport, protocol, self._context(), server_hostname=server.host
        )
        protocol.transport = await self._command(session, upgrade, "TLS handshake")
        # Capabilities before TLS may have been forged in transit (RFC 3501 6.2.1).
        await self._command(session, protocol.capability(), "CAPABILITY")

    def _context(self) -> ssl.SSLContext:
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context()
        return self._tls_context

    async def _command(
        self,
        session: _Session,
        step: Awaitable[_T],
        what: str,
        *,
        limit: float | None = None,
        untimed: bool = False,
    ) -> _T:
        """Run one step; a drop, a timeout or a protocol error closes the session."""
        if not untimed:
            limit = limit or self._timeout
        task = asyncio.ensure_future(step)
        lost = asyncio.ensure_future(session.lost.wait())
        racing: set[asyncio.Future[Any]] = {task, lost}
        try:
            done, _ = await asyncio.wait(racing, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            lost.cancel()
        server = session.account.server
        where = f"IMAP {server.host}:{server.port}"
        if task not in done:
            task.cancel()
            self._drop(session)
            why = "dropped the connection" if session.lost.is_set() else "timed out"
            raise PeerUnavailable(f"{where} {why} during {what}")
        try:
            return task.result()
        except (OSError, ValueError, aioimaplib.AioImapException, TimeoutError) as error:
            self._drop(session)
            detail = self._scrub(session, f"{type(error).__name__}: {error}".rstrip(": "))
            raise PeerUnavailable(f"{where} failed during {what} ({detail})") from None

    def _expect_ok(self, session: _Session, response: Any, what: str) -> None:
        if response.result == "OK":
            return
        server = session.account.server
        reply = self._scrub(session, _text(response.lines))
        if response.result not in {"NO"}:
            # BAD or anything else: this client and the server disagree; start afresh.
            self._drop(session)
        raise PeerUnavailable(f"IMAP {server.host}: {what} refused: {response.result} {reply}")

    @staticmethod
    def _scrub(session: _Session, text: str) -> str:
        for secret in session.account.server.secrets:
            text = text.replace(quote(secret), "***").replace(secret, "***")
        return text

    def _drop(self, session: _Session) -> None:
        if self._pool.get(session.account.address) is session:
            del self._pool[session.account.address]
        client = session.client
        if client is None:
            return
        task = getattr(client, "_client_task", None)
        if task is not None and not task.done():
            task.cancel()
        transport = client.protocol.transport
        if transport is not None:
            transport.close()

    async def _logout(self, session: _Session) -> None:
        if not session.lost.is_set():
            with contextlib.suppress(PeerUnavailable):
                await self._command(session, session.client.logout(), "LOGOUT", limit=5.0)
        self._drop(session)


# --- parsing (pure) ---------------------------------------------------------------------


def quote(text: str) -> str:
    """An IMAP quoted string (RFC 3501 section 9)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(lines: Sequence[bytes | bytearray]) -> str:
    tail = lines[-1] if lines else b""
    return bytes(tail).decode("utf-8", "replace").strip()[:300]


def parse_select(lines: Iterable[bytes | bytearray]) -> tuple[int | None, int | None, int | None]:
    """UIDVALIDITY, UIDNEXT and EXISTS of a SELECT response (None when absent)."""
    uidvalidity = uidnext = exists = None
    for line in lines:
        if not isinstance(line, bytes):
            continue
        if found := _UIDVALIDITY.search(line):
            uidvalidity = int(found.group(1))
        if found := _UIDNEXT.search(line):
            uidnext = int(found.group(1))
        if found := _EXISTS.match(line):
            exists = int(found.group(1))
    return uidvalidity, uidnext, exists


def parse_search(lines: Sequence[bytes | bytearray]) -> list[int]:
    """The numbers of the SEARCH response lines (the last line is the completion text)."""
    uids: list[int] = []
    for line in lines[:-1]:
        if not isinstance(line, bytes):
            continue
        tokens = line.split()
        if tokens[:1] and tokens[0].upper() == b"SEARCH":
            tokens = tokens[1:]
        if all(token.isdigit() for token in tokens):
            uids.extend(int(token) for token in tokens)
    return uids


def parse_fetch(lines: Sequence[bytes | bytearray]) -> dict[int, bytes]:
    """UID -> message of a `FETCH (UID BODY[])` response, whichever order the items come in.

    aioimaplib gives one FETCH as its opening line (up to the literal's `{n}`), the literal as
    a bytearray, then the rest of the line (`)` or ` UID 7)` when UID follows the body).
    Unsolicited FETCHes (flag updates) carry no body and are skipped.
    """
    found: dict[int, bytes] = {}
    uid: int | None = None
    body: bytes | None = None
    previous: bytes = b""

    def finish() -> None:
        if uid is not None and body is not None:
            found[uid] = body

    for line in lines:
        if isinstance(line, bytearray):
            if _BODY_LITERAL.search(previous):
                body = bytes(line)
            previous = b""
            continue
        if _FETCH_START.match(line):
            finish()
            uid, body = None, None
        if uid is None and (match := _FETCH_UID.search(line)):
            uid = int(match.group(1))
        previous = line
    finish()
    return found


def parse_header_fetch(
    lines: Sequence[bytes | bytearray],
) -> dict[int, tuple[frozenset[str], bytes]]:
    """UID -> (flags, header block) of a `FETCH (UID FLAGS BODY.PEEK[HEADER.FIELDS (...)])`
    response, whichever order the items come in (FLAGS may follow the literal)."""
    found: dict[int, tuple[frozenset[str], bytes]] = {}
    uid: int | None = None
    flags: frozenset[str] = frozenset()
    head: bytes | None = None
    previous: bytes = b""

    def finish() -> None:
        if uid is not None and head is not None:
            found[uid] = (flags, head)

    for line in lines:
        if isinstance(line, bytearray):
            if _HEADER_LITERAL.search(previous):
                head = bytes(line)
            previous = b""
            continue
        if _FETCH_START.match(line):
            finish()
            uid, flags, head = None, frozenset(), None
        if uid is None and (match := _FETCH_UID.search(line)):
            uid = int(match.group(1))
        if match := _FLAGS.search(line):
            flags = frozenset(match.group(1).decode("ascii", "replace").split())
        previous = line
    finish()
    return found


def warmup_seen(uid: int, flags: frozenset[str], head: bytes) -> WarmupSeen:
    """A warm-up mail's record from its fetched header fields."""
    # 8-bit header bytes (against the RFC, but seen) are most often UTF-8; the rest replaced.
    msg = HeaderParser(policy=compat32).parsestr(head.decode("utf-8", "replace"))

    def value(name: str) -> str:
        text = str(msg.get(name) or "")
        with contextlib.suppress(Exception):  # an encoded word that does not decode stays
            text = str(make_header(decode_header(text)))
        return " ".join(text.split())

    ids = _MSGID.findall(value("Message-ID"))
    parent = _MSGID.findall(value("In-Reply-To"))
    # Parsed before decoding: a decoded display name ("Müller, Klaus") may hold a bare comma.
    sender = parseaddr(" ".join(str(msg.get("From") or "").split()))[1].strip().lower()
    return WarmupSeen(
        uid=uid,
        message_id=ids[0] if ids else None,
        in_reply_to=parent[0] if parent else None,
        references=tuple(_MSGID.findall(value("References"))),
        subject=value("Subject"),
        sender=sender if "@" in sender else None,
        token=value(WARMUP_HEADER),
        flags=flags,
    )


def parse_copyuid(lines: Sequence[bytes | bytearray]) -> list[int] | None:
    """The source UIDs a COPY or MOVE reported in COPYUID (RFC 4315), None without one."""
    for line in lines:
        if isinstance(line, bytes) and (match := _COPYUID.search(line)):
            return expand_uid_set(match.group(1).decode("ascii"))
    return None


def _moved_count(lines: Sequence[bytes | bytearray], asked: int) -> int:
    # COPYUID names what was copied (a UID expunged meanwhile is not); without it, the ask.
    copied = parse_copyuid(lines)
    return asked if copied is None else len(copied)


def expand_uid_set(text: str) -> list[int]:
    """`1:3,7` -> [1, 2, 3, 7] (a range may run downwards: `3:1`)."""
    uids: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        first, last = int(low), int(high or low)
        uids.extend(range(min(first, last), max(first, last) + 1))
    return uids


def parse_list(lines: Sequence[bytes | bytearray]) -> list[tuple[frozenset[str], str]]:
    """(attributes in lower case, name as the server spells it) of each LIST response."""
    entries: list[tuple[frozenset[str], str]] = []
    for index, line in enumerate(lines[:-1]):
        if not isinstance(line, bytes):
            continue
        match = _LIST_HEAD.match(line)
        if match is None:
            continue
        attributes = frozenset(match.group(1).decode("ascii", "replace").lower().split())
        rest = match.group(3)
        if re.fullmatch(rb"\{\d+\}", rest):  # the name came as a literal: the next item
            following = lines[index + 1] if index + 1 < len(lines) else b""
            name = bytes(following).decode("utf-8", "replace")
        elif rest.startswith(b'"'):
            name = re.sub(rb"\\(.)", rb"\1", rest[1:-1]).decode("utf-8", "replace")
        else:
            name = rest.decode("utf-8", "replace")
        entries.append((attributes, name))
    return entries


def pick_junk(entries: Sequence[tuple[frozenset[str], str]]) -> str | None:
    """The folder marked \\Junk, else the first of JUNK_NAMES present (whole name, then leaf)."""
    usable = [(attrs, name) for attrs, name in entries if "\\noselect" not in attrs]
    for attrs, name in usable:
        if "\\junk" in attrs:
            return name
    by_name = {decode_utf7(name).casefold(): name for _, name in usable}
    by_leaf: dict[str, str] = {}
    for _, name in usable:
        leaf = re.split(r"[./]", decode_utf7(name))[-1].casefold()
        by_leaf.setdefault(leaf, name)
    for wanted in JUNK_NAMES:
        if (hit := by_name.get(wanted.casefold())) is not None:
            return hit
    for wanted in JUNK_NAMES:
        if "/" in wanted or "." in wanted:
            continue
        if (hit := by_leaf.get(wanted.casefold())) is not None:
            return hit
    return None


def decode_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3) as text; undecodable: as is."""
    out: list[str] = []
    parts = re.split(r"(&[^-]*-)", name)
    for part in parts:
        if part == "&-":
            out.append("&")
        elif part.startswith("&") and part.endswith("-"):
            chunk = part[1:-1].replace(",", "/")
            try:
                out.append(base64.b64decode(chunk + "=" * (-len(chunk) % 4)).decode("utf-16-be"))
            except ValueError:
                out.append(part)
        else:
            out.append(part)
    return "".join(out)


def uid_set(uids: Sequence[int]) -> str:
    """A sorted UID list as an IMAP sequence set: ranges for runs (`1:3,7`)."""
    runs: list[str] = []
    start = prev = uids[0]
    for uid in uids[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        runs.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    runs.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(runs)
