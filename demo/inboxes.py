"""The demo's receiving side: in-memory IMAP inboxes of the pool and the seeds (WarmupMailbox).

The SMTP sink hands every mail for a hosted address to `deliver`, which files it in INBOX or
Junk by a seeded draw: each sending domain has its spam share, one of them a bad one, so the
placement the warm-up loop measures differs by domain as it would at real providers. The
loop's receiving side reads these folders through the same port as mail/imap.py's reader:
warm-up candidates after a cursor (headers and flags only), rescue from Junk to INBOX (a new
UID there, the flags kept), mark read and starred. Nothing is ever deleted.
"""

from __future__ import annotations

import email.parser
import email.policy
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr

from core.records import FolderCursor, MailFolders, WarmupBatch, WarmupSeen
from core.specs import ImapAccount
from core.warmup_mail import TOKEN_HEADER

INBOX = "INBOX"
JUNK = "Junk"
UIDVALIDITY = 1  # the demo's folders are never recreated
_ID = re.compile(r"<[^<>\s]+>")
_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


@dataclass(slots=True)
class _Mail:
    """One stored mail: its headers as WarmupSeen needs them, and its flags."""

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    sender: str | None
    token: str | None
    flags: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Folder:
    mails: dict[int, _Mail] = field(default_factory=dict)  # uid -> mail, in uid order
    next_uid: int = 1

    def append(self, mail: _Mail) -> int:
        uid = self.next_uid
        self.next_uid += 1
        self.mails[uid] = mail
        return uid


def _first_id(value: str | None) -> str | None:
    found = _ID.search(value or "")
    return found.group(0) if found else None


def _parse(head: bytes) -> _Mail:
    """The headers of a message (its head: the bytes before the first empty line)."""
    message = _HEADERS.parsebytes(head)
    sender = parseaddr(str(message.get("From", "")))[1].lower() or None
    return _Mail(
        message_id=_first_id(message.get("Message-ID")),
        in_reply_to=_first_id(message.get("In-Reply-To")),
        references=tuple(_ID.findall(str(message.get("References", "")))),
        subject=str(message.get("Subject", "")),
        sender=sender,
        token=message.get(TOKEN_HEADER),
    )


class DemoInboxes:
    """INBOX and Junk of every hosted address; what lands where is drawn per sending domain."""

    def __init__(
        self,
        addresses: Iterable[str],
        *,
        seed: int,
        spam_share: float,
        domain_spam: Mapping[str, float] | None = None,
    ) -> None:
        self._boxes = {a.lower(): {INBOX: _Folder(), JUNK: _Folder()} for a in addresses}
        self._rng = random.Random(seed)
        self._spam_share = spam_share
        self._domain_spam = {d.lower(): share for d, share in (domain_spam or {}).items()}
        self.delivered = 0  # mails filed since the start
        self.junked = 0  # of those, filed in Junk
        self.unread = 0  # mails filed since the last `take_news`

    def hosts(self, address: str) -> bool:
        """Whether mail for `address` lands here (a pool mailbox or a seed)."""
        return address.lower() in self._boxes

    def spam_share(self, sender: str) -> float:
        """The share of `sender`'s mail the receivers' filters put in Junk."""
        return self._domain_spam.get(sender.rpartition("@")[2].lower(), self._spam_share)

    def filter(self, sender: str) -> str:
        """The receivers' spam filter: the folder a mail from `sender` goes to (a seeded draw)."""
        return JUNK if self._rng.random() < self.spam_share(sender) else INBOX

    def deliver(self, sender: str, recipient: str, head: bytes) -> str:
        """File one accepted message for a hosted `recipient`; the folder it went to."""
        folder = self.filter(sender)
        self._boxes[recipient.lower()][folder].append(_parse(head))
        self.delivered += 1
        self.junked += folder == JUNK
        self.unread += 1
        return folder

    def take_news(self) -> int:
        """How many mails were filed since the last call (the demo polls only after news)."""
        news, self.unread = self.unread, 0
        return news

    def count(self, address: str, folder: str) -> int:
        """Mails now in one folder of one address."""
        return len(self._boxes[address.lower()][folder].mails)

    def _folder(self, account: ImapAccount, folder: str) -> _Folder:
        return self._boxes[account.address.lower()][folder]

    # --- engine.ports.WarmupMailbox -------------------------------------------------------

    async def folders(self, account: ImapAccount) -> MailFolders:
        """The inbox and the spam folder."""
        return MailFolders(inbox=INBOX, junk=JUNK)

    async def warmup_candidates(
        self, account: ImapAccount, folder: str, since: FolderCursor | None, *, limit: int = 200
    ) -> WarmupBatch:
        """Up to `limit` mails with the warm-up header after `since`, oldest first."""
        box = self._folder(account, folder)
        reset = since is not None and since.uidvalidity != UIDVALIDITY
        after = since.last_uid if since is not None and not reset else 0
        seen: list[WarmupSeen] = []
        last = after
        # UIDs only grow: look at those after the cursor, not every mail the folder ever got
        # (that scan grew with the run and was run for every folder at every poll).
        for uid in range(after + 1, box.next_uid):
            mail = box.mails.get(uid)
            if mail is None:
                continue  # rescued to the inbox
            if len(seen) == limit:
                break
            last = uid  # the cursor moves past every mail searched, warm-up or not
            if mail.token is None:
                continue
            seen.append(
                WarmupSeen(
                    uid=uid,
                    message_id=mail.message_id,
                    in_reply_to=mail.in_reply_to,
                    references=mail.references,
                    subject=mail.subject,
                    sender=mail.sender,
                    token=mail.token,
                    flags=frozenset(mail.flags),
                )  # fmt: skip
            )
        return WarmupBatch(folder, FolderCursor(UIDVALIDITY, last), tuple(seen), reset=reset)

    async def rescue(
        self, account: ImapAccount, junk: str, uids: Sequence[int], *, inbox: str = INBOX
    ) -> int:
        """Move the warm-up mails among `uids` from `junk` to `inbox` (new UIDs, same flags)."""
        source, target = self._folder(account, junk), self._folder(account, inbox)
        moved = 0
        for uid in uids:
            mail = source.mails.get(uid)
            if mail is None or mail.token is None:
                continue
            del source.mails[uid]
            target.append(mail)
            moved += 1
        return moved

    async def mark_read(
        self, account: ImapAccount, folder: str, uids: Sequence[int], *, star: bool
    ) -> int:
        """Mark the warm-up mails among `uids` read (and starred): how many."""
        box = self._folder(account, folder)
        marked = 0
        for uid in uids:
            mail = box.mails.get(uid)
            if mail is None or mail.token is None:
                continue
            mail.flags.add("\\Seen")
            if star:
                mail.flags.add("\\Flagged")
            marked += 1
        return marked
