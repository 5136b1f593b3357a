"""How the process logs: plain text lines, or one JSON object per line (LOG_FORMAT=json)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import IO, Literal

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries whose DEBUG/INFO chatter could carry protocol lines; kept at WARNING.
NOISY = ("aiosmtplib", "aiohttp.access", "apscheduler")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON; control characters and non-ASCII are escaped."""
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # exc_text first: a handler filter (bot.app.RedactSecret) may have rendered and redacted
        # the traceback into it already; rendering exc_info again would bring the secret back.
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii: U+2028 and friends stay escaped, so no reader splits one record in two.
        return json.dumps(entry, ensure_ascii=True)


def log_handler(log_format: LogFormat, stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (stderr by default) writing `log_format` lines."""
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(level: str, log_format: LogFormat) -> logging.Handler:
    """Send the root logger's records at `level` and above to stderr as `log_format`."""
    handler = log_handler(log_format)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
