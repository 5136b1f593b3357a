"""What an alert is about, read from its stored key: the subject its chat buttons act on.

An alert's key is `kind:subject` (AlertOutbox.draft). For the kinds about one mailbox, domain
or campaign the chat offers that subject's /status and, where the alert says it stopped, a
/resume (SPEC 10); other kinds (replies, unknown sends, kinds added later) offer nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AlertSubject:
    """The mailbox, domain or campaign one stored alert is about, and what applies to it."""

    alert_id: int
    name: str  # what /status and /resume take: an address, a domain or a campaign name
    resume: bool  # the alert says the subject stopped: a /resume applies
    force: bool  # ... and only `/resume <name> force` ends that stop


@dataclass(frozen=True, slots=True)
class _Kind:
    resume: bool = False
    force: bool = False
    dated: bool = False  # the subject ends in ":YYYY-MM-DD" (once-a-day warnings)
    record: bool = False  # the subject is "domain:RECORD" (the daily DNS check's warnings)


_KINDS = {
    "mailbox_paused": _Kind(resume=True),  # the health job or an SMTP reply paused it
    "cooldown": _Kind(resume=True, force=True),  # a spam block: the domain rests for days
    "campaign_stopped": _Kind(resume=True, force=True),  # a broken template: a system stop
    "provider_cap": _Kind(),  # resting for hours; a resume does not end that
    "imap_login": _Kind(),
    "cooldown_over": _Kind(),
    "dns_missing": _Kind(),
    "dns_record": _Kind(record=True),
    "bounce_warn": _Kind(dated=True),
    "domain_complaints": _Kind(dated=True),
    # Inbox placement (SPEC 7): a hold ends on recovery, not by /resume.
    "placement_warn": _Kind(dated=True),
    "placement_hold": _Kind(),
    "placement_release": _Kind(),
}
_DAY = re.compile(r":\d{4}-\d{2}-\d{2}$")


def alert_subject(alert_id: int, key: str) -> AlertSubject | None:
    """The subject of the alert stored as `key`, or None when it has none to act on."""
    kind, sep, subject = key.partition(":")
    found = _KINDS.get(kind)
    if not sep or found is None:
        return None
    if found.dated:
        subject = _DAY.sub("", subject)
    if found.record:
        subject = subject.partition(":")[0]
    if not subject:
        return None
    return AlertSubject(alert_id, subject, found.resume, found.force)
