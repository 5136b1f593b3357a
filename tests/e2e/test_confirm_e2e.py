"""Confirm / Cancel end to end (SPEC 10): the real `python main.py` against the fake Bot API.

/resume all changes nothing until Confirm; a forged or an expired Confirm changes nothing; a
cool-down alert's Resume button asks first and then resumes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.procs import query
from tests.e2e.test_bot_e2e import ADMIN, BLOCK_REPLY, Running, service
from tests.fakes.telegram import Call, FakeTelegram, decode_json_field

STALE = "Expired or unknown: nothing changed."


def buttons(call: Call) -> dict[str, str]:
    """Button text -> callback data of a message the bot sent."""
    markup = decode_json_field(call, "reply_markup")
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


def message_id(call: Call) -> int:
    """The id of the message a call made."""
    made = call["message_id"]
    assert made is not None
    return made


async def press(fake: FakeTelegram, data: str, message: int) -> str:
    """The admin presses a button of message `message`; the text the press is answered with."""
    since = len(fake.calls)
    fake.push_callback(ADMIN, data, message)

    def answer() -> list[str]:
        # A list: an answer without text ("") still ends the wait.
        calls = fake.calls[since:]
        return [str(c["params"].get("text", "")) for c in calls
                if c["method"] == "answerCallbackQuery"][:1]  # fmt: skip

    answered: list[str] = await fake.wait_for(answer, within=10)
    return answered[0]


async def edited_to(fake: FakeTelegram, message: int, contains: str) -> str:
    """What the bot edited message `message` to, once that contains `contains`."""

    def found() -> str | None:
        texts = [
            str(c["params"].get("text", ""))
            for c in fake.sent
            if c["method"] == "editMessageText" and c["message_id"] == message
        ]
        return next((t for t in texts if contains in t), None)

    text: str = await fake.wait_for(found, within=10)
    return text


async def states(tmp: Path) -> list[tuple[object, ...]]:
    """Every campaign's and mailbox's state, counted."""
    return await query(
        tmp,
        "SELECT state, count(*) FROM (SELECT state FROM campaigns UNION ALL "
        "SELECT state FROM mailboxes) GROUP BY state ORDER BY state",
    )


async def domain_state(tmp: Path, name: str) -> object:
    """One domain's state."""
    return (await query(tmp, f"SELECT state FROM domains WHERE name = '{name}'"))[0][0]


async def test_resume_all_waits_for_confirm_and_an_alert_resume_asks_first(
    tmp_path: Path,
) -> None:
    leads = ["blocked@example.com", *(f"lead{i}@example.com" for i in range(20))]
    script = {"blocked@example.com": BLOCK_REPLY}
    async with (
        FakeTelegram() as fake,
        service(tmp_path, fake, per_domain=1, min_gap=5, leads=leads, smtp_script=script) as run,
    ):
        # The spam block cools its domain down; the alert offers /status and /resume force.
        alert = await fake.wait_for_message(ADMIN, "cooling down until", within=20)
        cooled = await query(tmp_path, "SELECT name FROM domains WHERE state = 'cooldown'")
        domain = str(cooled[0][0])
        offered = buttons(alert)
        assert set(offered) == {f"/status {domain}", f"/resume {domain} force"}

        since = len(fake.calls)
        await press(fake, offered[f"/resume {domain} force"], message_id(alert))
        asked = await fake.wait_for_message(ADMIN, f"Resume domain {domain}", since=since)
        assert await domain_state(tmp_path, domain) == "cooldown"  # asked, not done
        await press(fake, buttons(asked)["Confirm"], message_id(asked))
        done = await edited_to(fake, message_id(asked), f"Resumed domain {domain}")
        assert done.startswith(f"Resumed domain {domain} (cooldown -> active).")
        assert await domain_state(tmp_path, domain) == "active"

        await resume_all_only_on_confirm(run)


async def resume_all_only_on_confirm(run: Running) -> None:
    """/pause all, then /resume all: nothing until Confirm; a forged Confirm does nothing."""
    fake, tmp = run.fake, run.tmp
    await run.ask("/pause all", "Paused everything")
    paused = await states(tmp)
    assert [state for state, _ in paused] == ["paused"]

    asked = await run.ask("/resume all", "Resume everything")
    assert set(buttons(asked)) == {"Confirm", "Cancel"}
    question = message_id(asked)
    forged = "confirm:AAAAAAAAAAAAAAAA:yes:" + str(ADMIN)
    assert await press(fake, forged, question) == STALE
    assert await states(tmp) == paused

    assert await press(fake, buttons(asked)["Confirm"], question) == "Confirmed."
    await edited_to(fake, question, "Resumed everything")
    # The mailbox of the domain whose cool-down ended warms up again (phase 2).
    assert [state for state, _ in await states(tmp)] == ["active", "warming"]
    # Pressed again, the spent Confirm changes nothing.
    await run.ask("/pause all", "Paused everything")
    assert await press(fake, buttons(asked)["Confirm"], question) == STALE
    assert await states(tmp) == paused


async def test_an_expired_confirm_changes_nothing(tmp_path: Path) -> None:
    # A one-second window, and a press made after it: the question has expired for certain.
    async with (
        FakeTelegram() as fake,
        service(tmp_path, fake, per_domain=1, extra_env={"CONFIRM_SECONDS": "1"}) as run,
    ):
        await run.ask("/pause all", "Paused everything")
        paused = await states(tmp_path)
        asked = await run.ask("/resume all", "Resume everything")
        assert "within 1 second)" in str(asked["params"]["text"])
        await asyncio.sleep(1.5)  # past the window: a longer wait only makes it staler
        assert await press(fake, buttons(asked)["Confirm"], message_id(asked)) == STALE
        await edited_to(fake, message_id(asked), STALE)
        assert await states(tmp_path) == paused
