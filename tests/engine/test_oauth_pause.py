"""A refused OAuth refresh pauses the mailbox with a critical "bad credentials" alert (SPEC 4)."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from config import MailboxConfig, OAuthConfig, ServerConfig
from core import limits
from engine.alerts import AlertOutbox
from engine.clock import ManualClock
from engine.health import HealthService
from engine.sending import SendingEngine
from mail.oauth import OAuthTokens
from mail.smtp import SmtpSender
from storage.stores import Stores
from tests.engine.world import T0, World, run_ticks, world_config
from tests.fakes.oauth_server import FakeTokenEndpoint
from tests.fakes.smtp_server import FakeSmtpServer

USER = "pool@d0.test"
CLIENT_ID, CLIENT_SECRET = "app-7", "client-S3cret-Vq7"
REFRESH = "refresh-T0ken-Mw2"


async def test_a_refused_refresh_pauses_the_mailbox_and_alerts_without_secrets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        FakeTokenEndpoint(CLIENT_ID, CLIENT_SECRET, {REFRESH: USER}) as endpoint,
        FakeSmtpServer(bearer=endpoint.valid) as server,
    ):
        oauth = OAuthConfig(
            provider="microsoft",
            client_id=CLIENT_ID,
            client_secret=SecretStr(CLIENT_SECRET),
            refresh_token=SecretStr(REFRESH),
            token_url=endpoint.url,
        )
        login = ServerConfig(
            host="127.0.0.1", port=server.port, security="none", username=USER, oauth=oauth
        )
        base = world_config(server.port, domains=1, per_domain=1)
        config = base.model_copy(
            update={"mailboxes": [MailboxConfig(address="m0@d0.test", smtp=login)]}
        )
        clock = ManualClock(T0)
        stores = await Stores.open(tmp_path / "test.db")
        rules = config.rules()
        await stores.config.sync_config(rules, limits.local_day(T0, "Europe/Berlin"), now=T0)
        alerts = AlertOutbox(stores.alerts, clock, [], timedelta(minutes=60))
        health = HealthService(stores.health, stores.events, clock, rules, alerts)
        tokens = OAuthTokens(timeout=5.0)
        sender = SmtpSender(timeout=5.0, tokens=tokens)
        engine = SendingEngine(
            store=stores.sending, sender=sender, clock=clock, rules=rules, alerts=alerts,
            domains=health, rng=random.Random(7),
        )  # fmt: skip
        world = World(config, stores, engine, clock, server, alerts, health, sender)
        try:
            await world.add_leads(["a@lead.test"])
            await run_ticks(world, 1)
            assert len(server.messages) == 1  # XOAUTH2 with the token the endpoint issued
            assert server.messages[0].login == USER

            endpoint.revoke(REFRESH)  # the user withdrew consent
            endpoint.expire()
            server.drop_connections()  # the next send must log in again
            await world.add_leads(["b@lead.test"])
            await run_ticks(world, 3, step=timedelta(minutes=10))

            state, reason = (await world.rows(
                "SELECT state, reason FROM mailboxes WHERE address = 'm0@d0.test'"))[0]  # fmt: skip
            assert state == "paused"
            assert "invalid_grant" in str(reason)
            alerts_raised = await world.rows("SELECT severity, text FROM alerts")
            paused = [text for severity, text in alerts_raised if "paused" in str(text)]
            assert paused, alerts_raised
            assert "bad credentials" in str(paused[0])
            assert all(severity == "critical" for severity, _ in alerts_raised)
            assert len(server.messages) == 1
            assert await world.scalar("SELECT count(*) FROM sends WHERE state = 'sent'") == 1
            shown = [str(reason), *(str(text) for _, text in alerts_raised)]
            shown += [record.getMessage() for record in caplog.records]
            for text in shown:
                assert REFRESH not in text
                assert CLIENT_SECRET not in text
                assert "Zq9x" not in text  # the fake endpoint's access tokens
        finally:
            await sender.close()
            await tokens.close()
            await stores.close()
