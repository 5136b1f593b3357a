"""/upload's use cases: the campaigns a file can go to, importing leads, storing a campaign.

A leads file (.csv, .xlsx) is imported into a campaign by a child process, so its parsing
heap never stays in the service (engine/import_process.py); a campaign file (.toml, one
[[campaigns]] table) is validated like the config file and stored as an uploaded campaign.
Files land in a private temp directory under a fixed name, never under the name the sender
chose.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConflictError, SpecError
from core.leads import ImportReport
from core.models import CampaignState
from core.records import CampaignRow
from core.specs import CampaignSpec
from engine.admin import AdminError, unknown
from engine.context import AppContext
from engine.lead_files import LeadImportError

Fetch = Callable[[Path], Awaitable[object]]  # writes the uploaded file to the given path
Progress = Callable[[int], Awaitable[None]]


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
    """Download a leads file and import it into `campaign` (in a child process: ctx.import_file)."""
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="upload-"))
    try:
        path = folder / f"leads{suffix}"
        await fetch(path)
        try:
            return await ctx.import_file(path, campaign, now=ctx.clock.now(), progress=progress)
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


@dataclass(frozen=True, slots=True)
class CampaignFile:
    """A campaign file that was downloaded and validated, not stored yet."""

    source: str  # the file's name, for messages
    text: str
    name: str
    steps: int
    replaces: bool  # a campaign of that name exists: storing it replaces that one


async def read_campaign_upload(ctx: AppContext, source: str, fetch: Fetch) -> CampaignFile:
    """Download a .toml campaign file and validate it like the config; nothing is stored."""
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
    campaign = _validated(ctx, text, source)
    existing = next((c for c in await ctx.control.campaigns() if c.name == campaign.name), None)
    if existing is not None and existing.origin == "config" and existing.in_config:
        # Refused before anyone is asked to confirm a replacement the store would refuse.
        raise AdminError(
            f"campaign {campaign.name!r} is defined in the config file; change it there"
        )
    return CampaignFile(source, text, campaign.name, len(campaign.steps), existing is not None)


async def store_campaign_file(ctx: AppContext, text: str, source: str) -> StoredCampaign:
    """Validate a campaign file's text again (the config may have changed) and store it."""
    campaign = _validated(ctx, text, source)
    existed = any(c.name == campaign.name for c in await ctx.control.campaigns())
    try:
        campaign_id = await ctx.control.upsert_campaign(campaign, now=ctx.clock.now())
    except ConflictError as exc:  # a campaign owned by the TOML config
        raise AdminError(str(exc)) from None
    return StoredCampaign(campaign_id, campaign.name, len(campaign.steps), created=not existed)


async def store_campaign_upload(ctx: AppContext, source: str, fetch: Fetch) -> StoredCampaign:
    """Download a .toml campaign file, validate it like the config, store it."""
    upload = await read_campaign_upload(ctx, source, fetch)
    return await store_campaign_file(ctx, upload.text, upload.source)


def _validated(ctx: AppContext, text: str, source: str) -> CampaignSpec:
    try:
        return ctx.load_campaign(text, source)
    except SpecError as exc:
        raise AdminError(f"{source} has errors:\n" + "\n".join(exc.errors)) from None
