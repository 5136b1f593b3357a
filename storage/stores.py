"""Every port implementation over one shared connection, built together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage.alerts import AlertStore
from storage.config_store import ConfigStore
from storage.control import ControlStore
from storage.db import Database
from storage.esp import EspStore
from storage.events import EventStore
from storage.health import HealthStore
from storage.inbox import InboxStore
from storage.placements import PlacementStore
from storage.reports import ReportStore
from storage.sending import SendingStore
from storage.warmup import WarmupStore


@dataclass(frozen=True, slots=True)
class Stores:
    """The SQLite side of each port; they share one connection and its lock."""

    db: Database
    config: ConfigStore
    sending: SendingStore
    events: EventStore
    alerts: AlertStore
    health: HealthStore
    control: ControlStore
    reports: ReportStore
    inbox: InboxStore
    esp: EspStore
    warmup: WarmupStore
    placements: PlacementStore

    @classmethod
    def on(cls, db: Database) -> Stores:
        """Every store over `db`."""
        return cls(
            db=db,
            config=ConfigStore(db),
            sending=SendingStore(db),
            events=EventStore(db),
            alerts=AlertStore(db),
            health=HealthStore(db),
            control=ControlStore(db),
            reports=ReportStore(db),
            inbox=InboxStore(db),
            esp=EspStore(db),
            warmup=WarmupStore(db),
            placements=PlacementStore(db),
        )

    @classmethod
    async def open(cls, path: Path, *, verify: bool = False, durable: bool = True) -> Stores:
        """Open (creating and migrating if needed) the database at `path`, with every store."""
        return cls.on(await Database.open(path, verify=verify, durable=durable))

    async def close(self) -> None:
        """Close the shared connection."""
        await self.db.close()
