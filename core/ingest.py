"""What one mail read from a mailbox changes (SPEC 6.9, 8, 12): decided here, applied by storage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.inbox import InboxMail, MailKind
from core.models import EventKind, LeadState
from core.records import Effects, NewAlert, NewEvent, SentRef, Suppression

SOURCE = "imap"
NOTE_CHARS = 1000  # the reply text a chat notification quotes (SPEC 12: ~1,000 characters)


@dataclass(frozen=True, slots=True)
class Ignored:
    """A mail that changes nothing, and why (counted, and logged for bounces)."""

    why: str


@dataclass(frozen=True, slots=True)
class Source:
    """Where a mail was read: the mailbox, its folder and the folder's UIDVALIDITY and UID."""

    mailbox: str
    folder: str
    uidvalidity: int
    uid: int

    def event_id(self, mail: InboxMail) -> str:
        """A stable id: the same mail read twice (after a UIDVALIDITY change, or moved to
        another folder) is one event; a mail without a Message-ID is known by its UID."""
        if mail.message_id:
            return f"{self.mailbox}:{mail.message_id}"
        return f"{self.mailbox}:{self.folder}:{self.uidvalidity}:{self.uid}"


# How a reply notification is drafted: (event id, lead id, text) -> the alert. The engine
# supplies it, with the outbox's chats and quiet period.
Notify = Callable[[str, int, str], NewAlert]


def effects_of(
    mail: InboxMail,
    ref: SentRef | None,
    source: Source,
    *,
    now: datetime,
    notify: Notify | None = None,
) -> Effects | Ignored:
    """The effects of one mail about `ref` (the send it refers to, if it is one of ours)."""
    # Warm-up traffic is never a campaign reply or a chat note. The loop never answers a
    # campaign mail, though: one referring to a lead's step is that lead (or their helpdesk,
    # which may set the same header) answering, and counts like any other reply.
    if mail.kind is MailKind.OTHER or (mail.warmup and (ref is None or ref.lead_id is None)):
        return Ignored("warm-up mail" if mail.warmup else "not a reply, bounce or auto-reply")
    if ref is None:
        # SPEC 8: a bounce for a mail we never sent is ignored (and logged by the caller).
        return Ignored(f"{mail.kind.value} about no mail this service sent")
    event = NewEvent(
        source=SOURCE,
        source_id=source.event_id(mail),
        kind=_EVENT[mail.kind],
        occurred_at=now,
        received_at=now,
        email=(mail.recipient or ref.email) if _is_bounce(mail) else ref.email,
        mailbox_id=ref.mailbox_id,
        send_id=ref.send_id,
        campaign_id=ref.campaign_id,
        step_no=ref.step_no,
        detail=mail.detail[:300] or None,
        message_id=mail.message_id,
    )
    if mail.kind is MailKind.BOUNCE_HARD:
        address = mail.recipient or ref.email
        return Effects(
            event=event,
            close_lead=(ref.lead_id, LeadState.BOUNCED) if ref.lead_id is not None else None,
            suppress=Suppression(address, "hard bounce", SOURCE, now, LeadState.SUPPRESSED)
            if address
            else None,
        )
    if mail.kind is not MailKind.REPLY or ref.lead_id is None:
        # A soft bounce or an auto-reply (SPEC 8: neither stops the sequence), or mail about
        # warm-up traffic: only the event.
        return Effects(event=event)
    alerts: tuple[NewAlert, ...] = ()
    if notify is not None:
        alerts = (notify(event.source_id, ref.lead_id, _note(mail, ref, source)),)
    if mail.stop_word and ref.email:
        # "Remove me" in a reply: the address leaves every campaign (SPEC 4 stop_words).
        why = f"asked in a reply: {mail.stop_word!r}"
        return Effects(
            event=event,
            close_lead=(ref.lead_id, LeadState.UNSUBSCRIBED),
            suppress=Suppression(ref.email, why, SOURCE, now, LeadState.UNSUBSCRIBED),
            alerts=alerts,
        )
    # SPEC 6.9: no further step after a reply. Closing the lead in the same commit as the
    # event keeps the next tick from picking its follow-up.
    return Effects(event=event, close_lead=(ref.lead_id, LeadState.REPLIED), alerts=alerts)


_EVENT = {
    MailKind.BOUNCE_HARD: EventKind.BOUNCE_HARD,
    MailKind.BOUNCE_SOFT: EventKind.BOUNCE_SOFT,
    MailKind.AUTO_REPLY: EventKind.AUTO_REPLY,
    MailKind.REPLY: EventKind.REPLY,
}


def _is_bounce(mail: InboxMail) -> bool:
    return mail.kind in (MailKind.BOUNCE_HARD, MailKind.BOUNCE_SOFT)


def _note(mail: InboxMail, ref: SentRef, source: Source) -> str:
    """The chat notification of a human reply (SPEC 12): who, campaign, step, mailbox, text."""
    who = mail.sender or ref.email or "?"
    step = f"step {ref.step_no}" if ref.step_no else "a step"
    text = mail.text.strip()[:NOTE_CHARS] or "(no new text)"
    head = f"Reply from {who} to {ref.campaign or 'a campaign'} {step}, in {source.mailbox}"
    if mail.stop_word:
        head += f"; it asks to stop ({mail.stop_word!r}): the address is suppressed"
    return f"{head}:\n\n{text}"
