"""/upload: leads files (.csv, .xlsx) into a campaign, or a campaign file (.toml)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path, PurePath

import aiohttp
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Document, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.confirm import Confirmations
from bot.reply import answer_lines
from bot.risky import ReplaceCampaignAction
from bot.uploads import FileKind, PendingUploads, Throttle, check_document
from bot.views import upload as texts
from bot.views.confirm import replace_question
from engine import uploads
from engine.admin import AdminError
from engine.context import AppContext

log = logging.getLogger("outreach.bot")

KEYBOARD_LIMIT = 48  # buttons shown; more campaigns are named with /upload <campaign>
DOWNLOAD_SECONDS = 300  # a 20 MB file over a slow link


class UploadButton(CallbackData, prefix="upload"):
    """A press of one campaign button of /upload: the campaign the next file goes into."""

    campaign_id: int


def setup() -> Router:
    """The router of /upload, its campaign buttons and the documents that follow."""
    router = Router(name="upload")
    pending = PendingUploads()

    @router.message(Command("upload"), F.document)
    async def captioned(
        message: Message,
        *,
        command: CommandObject,
        ctx: AppContext,
        bot: Bot,
        state: FSMContext,
        confirmations: Confirmations,
    ) -> None:
        name = (command.args or "").strip() or None
        await _receive(message, name, ctx, bot, pending, asker=_Asker(confirmations, state))

    @router.message(Command("upload"))
    async def announce(message: Message, command: CommandObject, ctx: AppContext) -> None:
        name = (command.args or "").strip()
        now = ctx.clock.now()
        if name:
            campaign = await uploads.resolve_campaign(ctx, name)
            pending.expect(message.chat.id, campaign.name, now)
            await message.answer(texts.upload_waiting(campaign.name))
            return
        campaigns = await uploads.upload_campaigns(ctx)
        # A .toml may follow even before a button is pressed: it needs no campaign.
        pending.expect(message.chat.id, None, now)
        keyboard = InlineKeyboardBuilder()
        for campaign in campaigns[:KEYBOARD_LIMIT]:
            keyboard.button(text=campaign.name, callback_data=UploadButton(campaign_id=campaign.id))
        keyboard.adjust(2)
        markup = keyboard.as_markup() if campaigns else None
        text = texts.upload_choose(len(campaigns), min(len(campaigns), KEYBOARD_LIMIT))
        await message.answer(text, reply_markup=markup)

    @router.callback_query(UploadButton.filter())
    async def chosen(
        query: CallbackQuery, callback_data: UploadButton, ctx: AppContext, bot: Bot
    ) -> None:
        campaign = await uploads.campaign_by_id(ctx, callback_data.campaign_id)
        if query.message is None or campaign is None:
            await gone(query)
            return
        chat_id = query.message.chat.id
        pending.expect(chat_id, campaign.name, ctx.clock.now())
        await query.answer()
        await bot.edit_message_text(
            text=texts.upload_waiting(campaign.name),
            chat_id=chat_id,
            message_id=query.message.message_id,
        )

    # A press whose data UploadButton can't read (forged, or from an older version): answered,
    # never left spinning.
    @router.callback_query(F.data.startswith(f"{UploadButton.__prefix__}:"))
    async def gone(query: CallbackQuery) -> None:
        await query.answer("That campaign is gone; send /upload again.", show_alert=True)

    @router.message(F.document)
    async def document(
        message: Message,
        ctx: AppContext,
        bot: Bot,
        state: FSMContext,
        confirmations: Confirmations,
    ) -> None:
        item = pending.get(message.chat.id, ctx.clock.now())
        if item is None:
            await message.answer(texts.upload_usage())
            return
        await _receive(
            message, item.campaign, ctx, bot, pending, asker=_Asker(confirmations, state)
        )

    return router


@dataclass(frozen=True, slots=True)
class _Asker:
    """Where a replacing campaign file's question goes: the dispatcher's confirmations."""

    confirmations: Confirmations
    state: FSMContext


async def _receive(
    message: Message,
    campaign: str | None,
    ctx: AppContext,
    bot: Bot,
    pending: PendingUploads,
    *,
    asker: _Asker,
) -> None:
    """Check, download and process one document; a refusal (AdminError) says why."""
    doc = message.document
    if doc is None:
        return
    # Refused on what Telegram tells us, before a byte is downloaded.
    kind = check_document(doc.file_name, doc.file_size)
    if kind is FileKind.CAMPAIGN:
        pending.clear(message.chat.id)
        source = doc.file_name or "campaign.toml"
        upload = await uploads.read_campaign_upload(ctx, source, _fetcher(bot, doc))
        if upload.replaces:
            # SPEC 10: replacing a campaign is asked first; a new one needs no question.
            assert message.from_user is not None  # the admin gate let a user through
            action = ReplaceCampaignAction(name=upload.name, source=upload.source,
                                           text=upload.text)  # fmt: skip
            await asker.confirmations.ask(
                bot, asker.state, chat_id=message.chat.id, admin=message.from_user.id,
                action=action, question=replace_question(upload), now=ctx.clock.now(),
            )  # fmt: skip
            return
        stored = await uploads.store_campaign_file(ctx, upload.text, upload.source)
        await message.answer(texts.campaign_stored(stored))
        return
    if campaign is None:
        await message.answer(texts.upload_without_campaign())
        return
    target = await uploads.resolve_campaign(ctx, campaign)
    pending.clear(message.chat.id)
    await _import(message, target.name, doc, ctx, bot)


async def _import(
    message: Message, campaign: str, doc: Document, ctx: AppContext, bot: Bot
) -> None:
    file_name = doc.file_name or "leads"
    status = await message.answer(texts.import_started(campaign, file_name))

    async def show(text: str) -> None:
        try:
            await bot.edit_message_text(
                text=text, chat_id=status.chat.id, message_id=status.message_id
            )
        except TelegramAPIError as exc:  # progress is a nicety: never let it stop the import
            log.debug("progress update failed (%s)", type(exc).__name__)

    async def progress(rows: int) -> None:
        await show(texts.import_progress(campaign, rows))

    suffix = PurePath(file_name).suffix.lower()
    report = await uploads.import_upload(
        ctx, campaign, suffix, _fetcher(bot, doc), Throttle(progress)
    )
    await show(texts.import_done(report))
    await answer_lines(message, texts.import_report(report))


def _fetcher(bot: Bot, doc: Document) -> uploads.Fetch:
    """Download `doc` to a path; a failure becomes a message the admin can act on."""

    async def fetch(path: Path) -> None:
        try:
            await bot.download(doc.file_id, destination=path, timeout=DOWNLOAD_SECONDS)
        except (TelegramAPIError, aiohttp.ClientError, TimeoutError) as exc:
            raise AdminError(
                f"could not download the file from Telegram ({type(exc).__name__}); send it again"
            ) from None

    return fetch
