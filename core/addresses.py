"""Addresses and domain names as the config and the admin commands take them."""

from __future__ import annotations

import re

DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def normalise_address(value: str) -> str | None:
    """`local@domain` with the domain lower-cased, or None if it does not look like one."""
    local, at, domain = value.strip().rpartition("@")
    domain = domain.lower()
    if not at or not local or any(c.isspace() for c in local) or not DOMAIN_RE.match(domain):
        return None
    return f"{local}@{domain}"
