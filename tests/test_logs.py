"""LOG_FORMAT=json: one JSON object per line, and the secret filters still apply."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.app import redact_in_logs
from logs import JsonFormatter, log_handler

SECRET = "123456789:Zq9-UNIQUE-s3cr3t-VALUE"


@pytest.fixture
def root_json() -> Iterator[io.StringIO]:
    """A JSON handler on the root logger, as configure_logging installs it, removed afterwards."""
    stream = io.StringIO()
    handler = log_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, str]]:
    """Every line of `stream` parsed as a JSON object (a line that isn't one fails the test)."""
    lines = stream.getvalue().split("\n")
    assert lines[-1] == ""  # each record ends its line
    return [json.loads(line) for line in lines[:-1]]


def test_each_record_is_one_json_line(root_json: io.StringIO) -> None:
    log = logging.getLogger("outreach.test")
    log.info("sent %d mail(s) from %s", 3, "m0@d0.test")
    # Line breaks of every kind stay inside their record.
    log.warning("two\nlines\u2028and a separator, caf\u00e9")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("tick failed")
    first, second, third = records(root_json)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO"
    assert first["logger"] == "outreach.test"
    assert first["message"] == "sent 3 mail(s) from m0@d0.test"
    assert first["time"].endswith("+00:00")  # UTC, ISO 8601 with milliseconds
    assert len(first["time"]) == len("2026-12-07T06:48:29.123+00:00")
    assert second["message"] == "two\nlines\u2028and a separator, caf\u00e9"
    assert third["level"] == "ERROR"
    assert third["message"] == "tick failed"
    assert third["exception"].startswith("Traceback (most recent call last):")
    assert third["exception"].endswith("ValueError: boom")
    assert root_json.getvalue().isascii()


def test_bot_token_redaction_applies_to_json_lines(root_json: io.StringIO) -> None:
    # What the service does once the bot starts: a RedactSecret filter on every root handler.
    redact_in_logs(SECRET)
    log = logging.getLogger("aiogram.test")
    log.warning("GET https://api.telegram.org/bot%s/getMe failed", SECRET)
    try:
        raise ConnectionError(f"cannot reach /bot{SECRET}/getUpdates")
    except ConnectionError:
        log.exception("polling stopped")
    text = root_json.getvalue()
    assert SECRET not in text
    warned, failed = records(root_json)
    assert warned["message"] == "GET https://api.telegram.org/bot***/getMe failed"
    assert "ConnectionError: cannot reach /bot***/getUpdates" in failed["exception"]


def test_stack_info_is_its_own_field() -> None:
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "here", None, None, sinfo="Stack")
    entry = json.loads(JsonFormatter().format(record))
    assert entry["stack"] == "Stack"
    assert entry["level"] == "DEBUG"
    assert "exception" not in entry


def test_text_format_is_the_default_line() -> None:
    stream = io.StringIO()
    handler = log_handler("text", stream)
    record = logging.LogRecord("outreach", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    handler.handle(record)
    assert stream.getvalue().endswith(" INFO outreach: hello you\n")
