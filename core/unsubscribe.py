"""Unsubscribe tokens (SPEC 6.11): a lead id plus an HMAC-SHA256 tag, unforgeable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

MIN_SECRET_BYTES = 16
_ID_BYTES = 8
_TAG_BYTES = 16  # 128 bits of HMAC-SHA256: forging one takes ~2**128 tries
# 24 bytes encode to exactly 32 base64 characters: no padding and no spare bits, so every
# character of a token matters and each token has exactly one spelling.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
# Domain separation: a tag made with the same secret for another purpose never passes here.
_CONTEXT = b"outreach/unsubscribe/v1\x00"


def check_secret(secret: bytes) -> None:
    """Raise ValueError when the secret is too short to sign tokens with."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the unsubscribe secret needs at least {MIN_SECRET_BYTES} bytes")


def _tag(secret: bytes, raw_id: bytes) -> bytes:
    return hmac.new(secret, _CONTEXT + raw_id, hashlib.sha256).digest()[:_TAG_BYTES]


def make_token(secret: bytes, lead_id: int) -> str:
    """A URL-safe token naming `lead_id` that only the holder of `secret` can make."""
    check_secret(secret)
    if not 0 <= lead_id < 2**63:
        raise ValueError(f"lead id {lead_id} is out of range")
    raw_id = lead_id.to_bytes(_ID_BYTES, "big")
    return base64.urlsafe_b64encode(raw_id + _tag(secret, raw_id)).decode("ascii")


def read_token(secret: bytes, token: str) -> int | None:
    """The lead id in a genuine token; None for a forged, truncated or altered one."""
    check_secret(secret)
    if not _TOKEN.fullmatch(token):
        return None
    data = base64.urlsafe_b64decode(token)
    raw_id, tag = data[:_ID_BYTES], data[_ID_BYTES:]
    if not hmac.compare_digest(tag, _tag(secret, raw_id)):
        return None
    return int.from_bytes(raw_id, "big")


def mask_address(address: str) -> str:
    """`john@example.com` -> `j***@example.com`, for pages anyone holding a link may see."""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"
