"""The risky commands of SPEC 10 as pending actions: what Confirm will do, and nothing more.

Plain data (pydantic models with a `kind` tag) so a pending action fits any FSM storage, and
one stored while the process runs means the same thing when the admin confirms it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ResumeAction(_Action):
    """`/resume all`, `/resume <name> force`, or an alert's Resume button."""

    kind: Literal["resume"] = "resume"
    name: str  # as resolved: an address, a domain, a campaign or "all"
    force: bool = False


class UnsuppressAction(_Action):
    """`/unsuppress @domain`: a whole domain may be mailed again."""

    kind: Literal["unsuppress"] = "unsuppress"
    domain: str  # without the "@"


class StopWarmupAction(_Action):
    """`/warmup stop <mailbox>`: the mailbox jumps to its full daily limit."""

    kind: Literal["warmup_stop"] = "warmup_stop"
    mailbox: str


class ReplaceCampaignAction(_Action):
    """A `.toml` upload naming a campaign that exists: stored only once confirmed."""

    kind: Literal["replace_campaign"] = "replace_campaign"
    name: str
    source: str  # the file's name, for messages
    text: str  # validated again when confirmed: the config may have changed meanwhile


class DnsRecord(_Action):
    """One TXT record `/dns fix` was asked to add."""

    domain: str
    name: str
    content: str


class DnsFixAction(_Action):
    """`/dns fix`: add these missing SPF/DMARC records through Cloudflare."""

    kind: Literal["dns_fix"] = "dns_fix"
    records: tuple[DnsRecord, ...]


RiskyAction = Annotated[
    ResumeAction | UnsuppressAction | StopWarmupAction | ReplaceCampaignAction | DnsFixAction,
    Field(discriminator="kind"),
]
