"""What the bot's handlers get injected: the running service's parts, built in service.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config import OutreachConfig, Settings
from engine.alerts import AlertOutbox
from engine.clock import Clock
from storage.repository import Repository


@dataclass(frozen=True, slots=True)
class AppContext:
    """Shared by every handler (aiogram injects it as `ctx`); no logic of its own."""

    repo: Repository
    clock: Clock
    config: OutreachConfig
    settings: Settings
    alerts: AlertOutbox
    db_path: Path  # long jobs (lead imports) open their own connection to this file
