"""LOG_LEVEL=DEBUG must not put statement parameters (secrets, lead data) in the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from storage.db import Database
from storage.stores import Stores
from tests.storage.helpers import T0, TODAY, add_lead, campaign, config, ids, mailbox


async def test_debug_log_holds_no_secret_and_no_lead_address(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger, as main.py sets LOG_LEVEL
    db = await Database.open(db_path)
    try:
        stores = Stores.on(db)
        secret = (await stores.config.secret("unsubscribe")).hex()
        cfg = config([mailbox("m@a.test")], campaigns=[campaign("c")])
        await stores.config.sync_config(cfg.rules(), TODAY, now=T0)
        camps = await ids(db.conn, "campaigns", "name")
        await add_lead(db.conn, camps["c"], "private.person@lead.test")
    finally:
        await db.close()
    log = caplog.text
    assert secret not in log
    assert "private.person@lead.test" not in log
