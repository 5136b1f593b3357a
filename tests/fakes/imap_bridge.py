"""An SMTP server that delivers what it accepts into Dovecot: the warm-up loop's whole circuit.

Each accepted mail is recorded as FakeSmtpServer records it, then appended (IMAP APPEND) to
every recipient that is a Dovecot user, in INBOX or in Junk as `to_junk` decides: a mailbox
provider's spam filter, scripted by the test. It takes AUTH only after STARTTLS, with a
certificate from a throwaway CA (`tls_pair`), as a real provider does.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from tests.fakes.dovecot import Dovecot
from tests.fakes.smtp_server import FakeSmtpServer, Received

# (the mail as the server took it, the recipient) -> whether it lands in Junk
JunkRule = Callable[[Received, str], bool]


def never(_mail: Received, _rcpt: str) -> bool:
    """Every mail lands in the inbox."""
    return False


def every_nth_of_a_sender(n: int) -> JunkRule:
    """A sender's n-th, 2n-th, ... mail lands in Junk: an inbox share of (n-1)/n per sender."""
    counts: Counter[str] = Counter()

    def rule(mail: Received, _rcpt: str) -> bool:
        counts[mail.mail_from] += 1
        return counts[mail.mail_from] % n == 0

    return rule


def tls_pair(tmp: Path, ca_file: str) -> ssl.SSLContext:
    """A server context for 127.0.0.1 from a new CA whose certificate is written to tmp/ca_file
    (what a client is told to trust: SSL_CERT_FILE for main.py, `trusting` in-process)."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def trusting(tmp: Path, ca_file: str) -> ssl.SSLContext:
    """A client context that trusts the CA `tls_pair` wrote."""
    return ssl.create_default_context(cafile=str(tmp / ca_file))


@dataclass
class BridgeSmtpServer(FakeSmtpServer):
    """FakeSmtpServer that also files each mail into its recipients' Dovecot folders."""

    dovecot: Dovecot | None = None
    to_junk: JunkRule = field(default=never)
    filed: dict[str, list[str]] = field(default_factory=dict, init=False)  # folder -> ids

    async def _record(self, received: Received) -> None:
        await super()._record(received)
        if self.dovecot is None:
            return
        for rcpt in received.rcpt_tos:
            if rcpt.lower() not in self.dovecot.users:
                continue  # not one of ours: the open internet
            folder = "Junk" if self.to_junk(received, rcpt) else "INBOX"
            await self.dovecot.deliver(rcpt.lower(), received.data, folder)
            self.filed.setdefault(folder, []).append(received.message_id or "")
