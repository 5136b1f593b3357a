"""A private Dovecot IMAP server (Debian's dovecot-imapd 2.3) on a free 127.0.0.1 port.

In-process: `async with Dovecot(tmp_path, users={"a@b.test": "pw"}) as server:`; the fixture
`dovecot` in tests/mail/conftest.py builds one. Standalone, for end-to-end tests that start the
real main.py: `python -m tests.fakes.dovecot --dir D --user a@b.test:pw ...` prints
`listening <port>` once it accepts connections and stops on SIGTERM/SIGINT.

Facts this leans on are in /work/shared/DOVECOT.md: no system service is touched, the master
runs in the foreground (-F) tied to its parent by PR_SET_PDEATHSIG, so a killed test leaves no
Dovecot behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

DOVECOT = "/usr/sbin/dovecot"
HOST = "127.0.0.1"
NOBODY = 65534  # Dovecot refuses to touch mail as uid 0: as root, mail belongs to nobody
_PR_SET_PDEATHSIG = 1
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_T = TypeVar("_T")


def dovecot_available() -> bool:
    """Whether Debian's dovecot binary is installed (make test installs dovecot-imapd)."""
    return os.access(DOVECOT, os.X_OK)


def _free_port() -> int:
    # Racy by nature (the port is free now, not promised later); start() retries on a clash.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGTERM when the parent (thread) dies, so
    # a SIGKILLed pytest or runner does not leave the master (and its children) behind.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Dovecot:
    """One Dovecot instance: passwd-file users, Maildir, `Junk` (\\Junk) and `Sent` (\\Sent)."""

    def __init__(
        self,
        directory: Path,
        users: Mapping[str, str],
        *,
        junk: str | None = "Junk",
        tls_cert: tuple[Path, Path] | None = None,
        introspection_url: str | None = None,
    ) -> None:
        """`junk`: the folder given the \\Junk special use (None: none is); `tls_cert`: the
        (certificate chain, key) PEM files, which turn on STARTTLS and an implicit-TLS port;
        `introspection_url`: where the oauth2 passdb checks an XOAUTH2 bearer token (POST
        token=..., RFC 7662 style reply), which turns XOAUTH2 on."""
        self.directory = directory  # the caller's; dovecot.log is copied here on stop
        self.users = dict(users)
        self.junk = junk
        self.tls_cert = tls_cert
        self.introspection_url = introspection_url
        self.port = 0
        self.tls_port = 0  # implicit TLS (imaps), only with tls_cert
        # Dovecot's processes (auth as `dovecot`, mail as nobody) must read the passwd file
        # and the Maildir, and pytest's tmp_path sits under a 0700 directory: so the files
        # Dovecot reads live in a traversable temp dir of their own.
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-test-"))
        self.root.chmod(0o755)
        self._process: asyncio.subprocess.Process | None = None

    # --- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> Dovecot:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the master (again, on the same ports and Maildir after a stop)."""
        if self._process is not None:
            raise RuntimeError("Dovecot is already running")
        attempts = 1 if self.port else 5  # a fixed port after a restart is not re-picked
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = _free_port()
                self.tls_port = _free_port() if self.tls_cert else 0
            self._write_config()
            try:
                await self._spawn()
                return
            except OSError:
                if attempt == attempts - 1:
                    raise

    async def stop(self) -> None:
        """Stop the master; it closes every client connection (kept Maildir, ports)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            # SIGKILL, not SIGTERM: on SIGTERM the master waits out a second for its children
            # to say goodbye (1.1 s a stop, measured; ~25 s over the suite). Its children
            # notice a dead master on their own, and the loop below makes sure they are gone.
            process.kill()
            await asyncio.wait_for(process.wait(), _STOP_TIMEOUT)
        # The master exits before its children: an imap process serving an idle client
        # lives on (seen for 10 s and more). "Stopped" means none of them is left.
        for signum in (signal.SIGTERM, signal.SIGKILL):
            for pid in self._children():
                with contextlib.suppress(OSError):
                    os.kill(pid, signum)
            for _ in range(100):
                if not self._children():
                    break
                await asyncio.sleep(0.02)
        log = self.root / "dovecot.log"
        if log.exists():
            with contextlib.suppress(OSError):
                shutil.copyfile(log, self.directory / "dovecot.log")

    async def close(self) -> None:
        """Stop and remove the instance's files."""
        await self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _children(self) -> list[int]:
        """Live (not zombie) processes of this instance: their titles start with its name."""
        mark = f"dovecot-test-{self.port}/".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            except (OSError, IndexError):
                continue
            if title.startswith(mark) and state != "Z":
                found.append(int(entry.name))
        return found

    def log_text(self) -> str:
        """What Dovecot logged so far (for a failing test's message)."""
        log = self.root / "dovecot.log"
        return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""

    async def _spawn(self) -> None:
        # stderr to a file, not a pipe: Dovecot's children inherit it, and a pipe still open
        # in a child being shut down would hold up the wait for the master.
        stderr = self.root / "stderr.log"
        with stderr.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                DOVECOT,
                "-F",
                "-c",
                str(self.root / "dovecot.conf"),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=sink,
                preexec_fn=_die_with_parent,
            )
        self._process = process
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_TIMEOUT
        while True:
            if process.returncode is not None or loop.time() > deadline:
                if process.returncode is None:
                    process.kill()
                await process.wait()
                self._process = None
                err = stderr.read_text(encoding="utf-8", errors="replace")
                # Config errors go to stderr (exit 89); a taken port shows up in the log.
                raise OSError(f"dovecot exited {process.returncode}: {err}{self.log_text()}")
            try:
                _, writer = await asyncio.open_connection(HOST, self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    def _write_config(self) -> None:
        root = self.root
        as_root = os.getuid() == 0
        mail = root / "mail"
        mail.mkdir(exist_ok=True)
        if as_root:
            os.chown(mail, NOBODY, NOBODY)
            uid, gid = NOBODY, NOBODY
        else:
            uid, gid = os.getuid(), os.getgid()
        passwd = root / "passwd"
        passwd.write_text(
            "".join(f"{user}:{{PLAIN}}{password}\n" for user, password in self.users.items()),
            encoding="utf-8",
        )
        passwd.chmod(0o644)  # read by the auth process, which does not run as root
        mailboxes = "".join(
            f"  mailbox {_quote(name)} {{\n    special_use = {use}\n    auto = subscribe\n  }}\n"
            for name, use in ((self.junk, "\\Junk"), ("Sent", "\\Sent"))
            if name is not None
        )
        rootless = ""
        if not as_root:
            me = pwd.getpwuid(os.getuid()).pw_name
            rootless = (
                f"default_internal_user = {me}\n"
                f"default_login_user = {me}\n"
                "service anvil {\n  chroot =\n}\n"
                "service imap-login {\n  chroot =\n}\n"
            )
        if self.tls_cert is not None:
            chain, key = self.tls_cert
            tls = f"ssl = yes\nssl_cert = <{chain}\nssl_key = <{key}\n"
            imaps = (
                f"  inet_listener imaps {{\n    address = {HOST}\n"
                f"    port = {self.tls_port}\n  }}\n"
            )
        else:
            tls = "ssl = no\n"  # also drops the imaps listener: no fight over port 993
            imaps = ""
        oauth_mechanisms = oauth_passdb = ""
        if self.introspection_url is not None:
            oauth_conf = root / "dovecot-oauth2.conf.ext"
            oauth_conf.write_text(
                "introspection_mode = post\n"
                f"introspection_url = {self.introspection_url}\n"
                "force_introspection = yes\n"
                "username_attribute = username\n"
                "active_attribute = active\n"
                "active_value = true\n",
                encoding="utf-8",
            )
            oauth_conf.chmod(0o644)
            oauth_mechanisms = " xoauth2 oauthbearer"
            oauth_passdb = (
                "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {oauth_conf}\n}}\n"
            )
        (root / "dovecot.conf").write_text(
            f"""# Generated by tests/fakes/dovecot.py
base_dir = {root}/run
state_dir = {root}/state
instance_name = dovecot-test-{self.port}
log_path = {root}/dovecot.log
protocols = imap
listen = {HOST}
{tls}disable_plaintext_auth = no
auth_mechanisms = plain login{oauth_mechanisms}
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {passwd}
}}
{oauth_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
{imaps}}}
namespace inbox {{
  inbox = yes
  separator = .
{mailboxes}}}
{rootless}""",
            encoding="utf-8",
        )

    # --- what a test does to a mailbox, over plain IMAP (stdlib imaplib, in a thread) ----

    async def deliver(self, user: str, raw: bytes, folder: str = "INBOX", flags: str = "") -> None:
        """Put one message into `folder` of `user` (IMAP APPEND; no `flags`: it arrives unread)."""

        def append(imap: imaplib.IMAP4) -> None:
            typ, data = imap.append(_quote(folder), flags, None, raw)
            if typ != "OK":
                raise RuntimeError(f"APPEND to {folder}: {typ} {data!r}")

        await self._as(user, append)

    async def create_folder(self, user: str, folder: str) -> None:
        """Create a folder."""
        await self._as(user, lambda imap: _ok(imap.create(_quote(folder)), "CREATE"))

    async def delete_folder(self, user: str, folder: str) -> None:
        """Delete a folder and its mail (a re-created one gets a new UIDVALIDITY)."""
        await self._as(user, lambda imap: _ok(imap.delete(_quote(folder)), "DELETE"))

    async def flags(self, user: str, folder: str = "INBOX") -> dict[int, frozenset[str]]:
        """UID -> flags of every message in `folder`, read with EXAMINE (changes nothing)."""

        def read(imap: imaplib.IMAP4) -> dict[int, frozenset[str]]:
            typ, data = imap.select(_quote(folder), readonly=True)
            _ok((typ, data), "EXAMINE")
            if int(data[0] or b"0") == 0:
                return {}
            typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
            _ok((typ, data), "FETCH")
            found: dict[int, frozenset[str]] = {}
            for item in data:
                if not isinstance(item, bytes):
                    continue
                uid = re.search(rb"UID (\d+)", item)
                flags = re.search(rb"FLAGS \(([^)]*)\)", item)
                if uid and flags:
                    found[int(uid.group(1))] = frozenset(flags.group(1).decode().split())
            return found

        return await self._as(user, read)

    async def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """The folder's UIDVALIDITY (STATUS)."""

        def status(imap: imaplib.IMAP4) -> int:
            typ, data = imap.status(_quote(folder), "(UIDVALIDITY)")
            _ok((typ, data), "STATUS")
            found = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
            assert found is not None, data
            return int(found.group(1))

        return await self._as(user, status)

    async def _as(self, user: str, action: Callable[[imaplib.IMAP4], _T]) -> _T:
        def run() -> _T:
            with imaplib.IMAP4(HOST, self.port, timeout=10) as imap:
                imap.login(user, self.users[user])
                return action(imap)

        return await asyncio.to_thread(run)


def _ok(reply: tuple[str, list[Any]], what: str) -> None:
    if reply[0] != "OK":
        raise RuntimeError(f"{what}: {reply[0]} {reply[1]!r}")


# --- standalone -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run Dovecot until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.dovecot")
    parser.add_argument("--dir", type=Path, required=True, help="dovecot.log lands here on stop")
    parser.add_argument(
        "--user", action="append", default=[], required=True, help="address:password"
    )
    parser.add_argument("--junk", default="Junk", help="the \\Junk folder ('' for none)")
    args = parser.parse_args(argv)
    users = dict(spec.split(":", 1) for spec in args.user)
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_serve(Dovecot(args.dir, users, junk=args.junk or None)))
    return 0


async def _serve(server: Dovecot) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        sys.stdout.write(f"listening {server.port}\n")
        sys.stdout.flush()
        await stop.wait()


if __name__ == "__main__":
    raise SystemExit(main())
