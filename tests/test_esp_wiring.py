"""The ESP wiring: the adapter registry, the service's feeds, and `check --connect` on ESPs."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

import bootstrap
from config import DomainConfig, EspConfig, MailboxConfig, OutreachConfig, ServerConfig
from core.connect import LoginCheck, LoginResult, Verdict
from core.specs import EspSpec
from engine.clock import ManualClock
from engine.connect_check import NO_ESP_CLIENT, check_logins
from engine.ports import EspFeed
from tests.fakes.esp_feed import ScriptedFeed

KEY = "key-Zq9-mailgun-UNIQUE"
T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def esp_config() -> OutreachConfig:
    """Two ESPs: `mg` (Mailgun, named by d0.test) and `ses` (no adapter registered here)."""
    server = ServerConfig(host="127.0.0.1", port=1, security="none", username="u",
                          password=SecretStr("smtp-pw"))  # fmt: skip
    return OutreachConfig(
        domains=[DomainConfig(name="d0.test", esp="mg"), DomainConfig(name="d1.test")],
        mailboxes=[
            MailboxConfig(address="m0@d0.test", smtp=server),
            MailboxConfig(address="m0@d1.test", smtp=server),
        ],
        esp=[
            EspConfig(name="mg", kind="mailgun", poll_seconds=30, api_key=SecretStr(KEY)),
            EspConfig(name="ses", kind="ses", region="eu-west-1", queue_url="https://sqs.test/q"),
        ],
    )


class Registry:
    """A fake adapter for Mailgun: the feeds it built, each refusing with the key quoted."""

    def __init__(self) -> None:
        self.built: list[ScriptedFeed] = []

    def __call__(self, spec: EspSpec) -> EspFeed:
        feed = ScriptedFeed(spec.name)
        feed.probe_result = LoginResult(Verdict.REFUSED, f"401 Unauthorized for api:{spec.api_key}")
        self.built.append(feed)
        return feed


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    made = Registry()
    monkeypatch.setitem(bootstrap.ESP_ADAPTERS, "mailgun", made)
    monkeypatch.delitem(bootstrap.ESP_ADAPTERS, "ses")  # a kind without an adapter
    return made


async def test_the_service_polls_each_esp_with_an_adapter_on_its_schedule(
    tmp_path: Path, registry: Registry
) -> None:
    async with AsyncExitStack() as stack:
        service = await bootstrap.build_service(
            stack, db_path=tmp_path / "esp.db", config=esp_config(), clock=ManualClock(T0),
            chats=[],
        )  # fmt: skip
        assert service.esp.feeds == ["mg"]  # ses has no adapter: not polled
        assert service.esp.poll_seconds("mg") == 30
        report = await service.esp.poll()
        assert report.pages == 1 and report.failed == []
        (feed,) = registry.built
        assert feed.reads == [None]
    assert feed.closed  # closed when the stack unwound


async def test_check_connect_probes_esps_with_an_adapter_and_masks_their_keys(
    registry: Registry,
) -> None:
    checks = await bootstrap.check_connections(esp_config(), seconds=2)
    esps = [check for check in checks if check.protocol == "esp"]
    assert esps == [
        LoginCheck("mg", "esp", LoginResult(Verdict.REFUSED, "401 Unauthorized for api:***")),
        LoginCheck("ses", "esp", LoginResult(Verdict.NOT_CHECKED, NO_ESP_CLIENT)),
    ]
    assert registry.built[0].closed


class NoMail:
    """A login probe no mailbox reaches (the ESP checks below list none)."""

    async def probe(self, account: object) -> LoginResult:
        raise AssertionError("no mailbox to probe")


class Silent(ScriptedFeed):
    """An ESP whose API never answers."""

    async def probe(self) -> LoginResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_an_esp_that_never_answers_is_unreachable_after_the_deadline() -> None:
    feeds: dict[str, EspFeed] = {"slow": Silent("slow"), "ok": ScriptedFeed("ok")}
    checks = await check_logins(
        [], ["ok", "slow"], smtp=NoMail(), imap=NoMail(), seconds=0.2, feeds=feeds
    )
    assert checks == [
        LoginCheck("ok", "esp", LoginResult(Verdict.OK)),
        LoginCheck("slow", "esp", LoginResult(Verdict.UNREACHABLE, "no answer within 0.2 s")),
    ]
