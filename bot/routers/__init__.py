"""The router registry: every command group's `setup() -> Router`, in the order they match."""

from __future__ import annotations

from aiogram import Router

from bot.routers import (
    backup,
    basic,
    campaigns,
    confirm,
    control,
    cost,
    dns,
    export,
    lead,
    plan,
    preview,
    replies,
    stats,
    suppress,
    upload,
    warmup,
)


def all_routers() -> list[Router]:
    """A fresh router per command group (a router can join one dispatcher only)."""
    return [
        basic.setup(),
        control.setup(),
        campaigns.setup(),
        upload.setup(),
        stats.setup(),
        warmup.setup(),
        cost.setup(),
        suppress.setup(),
        dns.setup(),
        plan.setup(),
        lead.setup(),
        preview.setup(),
        export.setup(),
        replies.setup(),
        backup.setup(),
        confirm.setup(),
    ]
