"""Fixtures of the mail adapter tests: a private Dovecot per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.dovecot import Dovecot, dovecot_available

USERS = {
    "alex@brand-news.com": 'pa"ss\\w0rd-S3cret',  # needs quoting on the wire; never logged
    "sam@brand-news.com": "other-S3cret",
}


@pytest.fixture
async def dovecot(tmp_path: Path) -> AsyncIterator[Dovecot]:
    """Dovecot with two users, `Junk` as \\Junk and `Sent` as \\Sent."""
    if not dovecot_available():
        pytest.fail("dovecot-imapd is not installed: `make test` installs it (as root)")
    async with Dovecot(tmp_path, USERS) as server:
        yield server
