"""What the bot's handlers get injected: the running service's parts, built in bootstrap.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.specs import CampaignSpec, Rules
from engine.alerts import AlertOutbox
from engine.answers import Answers
from engine.clock import Clock
from engine.ports import (
    ControlStore,
    DatabaseBackups,
    EventStore,
    ImportFile,
    OpenDnsHost,
    ReportQueries,
)
from engine.preview import Previewer
from engine.trial_sends import TestSender

# Reads an uploaded campaign file (text, its name for messages); raises core.errors.SpecError.
LoadCampaign = Callable[[str, str], CampaignSpec]


@dataclass(frozen=True, slots=True)
class AppContext:
    """Shared by every handler (aiogram injects it as `ctx`); no logic of its own."""

    reports: ReportQueries
    control: ControlStore
    events: EventStore
    clock: Clock
    rules: Rules
    alerts: AlertOutbox
    import_file: ImportFile  # an uploaded leads file, imported in a child process
    load_campaign: LoadCampaign
    answers: Answers  # an admin's answer to a reply, sent in its thread (SPEC 12)
    backups: DatabaseBackups  # consistent copies of the live database (/backup)
    previews: Previewer  # /preview: a step rendered for a lead, nothing sent
    test_sends: TestSender  # /test: a step sent to the admin's address, no lead touched
    dns_host: OpenDnsHost | None = None  # Cloudflare for /dns fix; None without a token
