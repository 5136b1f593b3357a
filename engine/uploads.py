"""/upload: which campaign a file goes to, what files are taken, and importing or storing them.

A leads file (.csv, .xlsx) is imported into a campaign on a connection of its own (the
importer holds a long write transaction); a campaign file (.toml, one [[campaigns]] table) is
validated like the config file and stored as an uploaded campaign. Files land in a private
temp directory under a fixed name, never under the name the sender chose.
"""

from __future__ import annotations

import asyncio
import enum
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePath

from core.errors import ConflictError, SpecError
from core.leads import ImportReport
from core.models import CampaignState
from core.records import CampaignRow
from engine.admin import AdminError, unknown
from engine.context import AppContext
from engine.importer import import_leads
from engine.lead_files import LeadImportError

MAX_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
PENDING_FOR = timedelta(minutes=5)
PROGRESS_EVERY = 2.0  # seconds between progress updates (Telegram rate-limits edits)
LEAD_SUFFIXES = (".csv", ".xlsx")
CAMPAIGN_SUFFIX = ".toml"

Fetch = Callable[[Path], Awaitable[object]]  # writes the uploaded file to the given path
Progress = Callable[[int], Awaitable[None]]


class FileKind(enum.StrEnum):
    """What an uploaded document holds."""

    LEADS = "leads"
    CAMPAIGN = "campaign"


def check_document(file_name: str | None, file_size: int | None) -> FileKind:
    """Which kind of file this is, judged before downloading; AdminError when it is refused."""
    if file_size is not None and file_size > MAX_BYTES:
        raise AdminError(
            f"the file is {_megabytes(file_size)}; files above {_megabytes(MAX_BYTES)} are "
            "refused (a bot cannot download more from Telegram). Split it and upload the parts."
        )
    suffix = PurePath(file_name or "").suffix.lower()
    if suffix in LEAD_SUFFIXES:
        return FileKind.LEADS
    if suffix == CAMPAIGN_SUFFIX:
        return FileKind.CAMPAIGN
    shown = repr(file_name) if file_name else "a file without a name"
    raise AdminError(
        f"{shown} is not accepted: send leads as .csv or .xlsx, or a campaign as .toml"
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


@dataclass(frozen=True, slots=True)
class Pending:
    """A chat announced an upload: the campaign (None: not chosen yet) and until when."""

    campaign: str | None
    until: datetime


class PendingUploads:
    """Which campaign a chat's next document goes to, for a few minutes; in memory only."""

    def __init__(self, ttl: timedelta = PENDING_FOR) -> None:
        self._ttl = ttl
        self._by_chat: dict[int, Pending] = {}

    def expect(self, chat_id: int, campaign: str | None, now: datetime) -> Pending:
        """Remember that `chat_id` will send a file (for `campaign`, if known)."""
        # Drop the expired entries of other chats so the map stays as small as the admin list.
        self._by_chat = {k: v for k, v in self._by_chat.items() if v.until > now}
        item = Pending(campaign, now + self._ttl)
        self._by_chat[chat_id] = item
        return item

    def get(self, chat_id: int, now: datetime) -> Pending | None:
        """What the chat announced, unless that has expired."""
        item = self._by_chat.get(chat_id)
        if item is not None and item.until <= now:
            del self._by_chat[chat_id]
            return None
        return item

    def clear(self, chat_id: int) -> None:
        """Forget the chat's announcement (its file arrived)."""
        self._by_chat.pop(chat_id, None)


class Throttle:
    """Passes progress on at most once per `interval` seconds; the rest is dropped."""

    def __init__(
        self,
        target: Progress,
        interval: float = PROGRESS_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._target = target
        self._interval = interval
        self._monotonic = monotonic
        self._last = monotonic()

    async def __call__(self, rows: int) -> None:
        """Forward `rows` if the last update is at least `interval` seconds old."""
        now = self._monotonic()
        if now - self._last >= self._interval:
            self._last = now
            await self._target(rows)


async def upload_campaigns(ctx: AppContext) -> list[CampaignRow]:
    """Campaigns leads can be uploaded into, by name."""
    rows = [c for c in await ctx.control.campaigns() if c.state is not CampaignState.DISABLED]
    return sorted(rows, key=lambda c: c.name)


async def resolve_campaign(ctx: AppContext, name: str) -> CampaignRow:
    """The campaign called `name`; AdminError naming the closest ones when there is none."""
    campaigns = await upload_campaigns(ctx)
    for campaign in campaigns:
        if campaign.name == name:
            return campaign
    raise unknown("campaign", name, [c.name for c in campaigns])


async def campaign_by_id(ctx: AppContext, campaign_id: int) -> CampaignRow | None:
    """A campaign leads can go into, by id (from an inline keyboard button)."""
    for campaign in await upload_campaigns(ctx):
        if campaign.id == campaign_id:
            return campaign
    return None


async def import_upload(
    ctx: AppContext, campaign: str, suffix: str, fetch: Fetch, progress: Progress | None = None
) -> ImportReport:
    """Download a leads file and import it into `campaign` on a connection of its own."""
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="upload-"))
    try:
        path = folder / f"leads{suffix}"
        await fetch(path)
        async with ctx.open_leads() as store:
            try:
                return await import_leads(
                    store, path, campaign, now=ctx.clock.now(), progress=progress
                )
            except LeadImportError as exc:
                raise AdminError(str(exc)) from None
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


@dataclass(frozen=True, slots=True)
class StoredCampaign:
    """A campaign file that was stored."""

    id: int
    name: str
    steps: int
    created: bool  # False: an uploaded campaign of that name was replaced


async def store_campaign_upload(ctx: AppContext, source: str, fetch: Fetch) -> StoredCampaign:
    """Download a .toml campaign file, validate it like the config, store it."""
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="upload-"))
    try:
        path = folder / "campaign.toml"
        await fetch(path)
        raw = await asyncio.to_thread(path.read_bytes)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AdminError(
            f"{source} is not UTF-8 text; save it as UTF-8 and upload it again"
        ) from None
    try:
        campaign = ctx.load_campaign(text, source)
    except SpecError as exc:
        raise AdminError(f"{source} has errors:\n" + "\n".join(exc.errors)) from None
    existed = any(c.name == campaign.name for c in await ctx.control.campaigns())
    try:
        campaign_id = await ctx.control.upsert_campaign(campaign, now=ctx.clock.now())
    except ConflictError as exc:  # a campaign owned by the TOML config
        raise AdminError(str(exc)) from None
    return StoredCampaign(campaign_id, campaign.name, len(campaign.steps), created=not existed)
