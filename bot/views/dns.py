"""/dns: SPF, DKIM, DMARC and MX per domain, and what is missing."""

from __future__ import annotations

from collections.abc import Sequence

from engine.dns_check import DomainDns, Lookup, Status

_MARK = {Status.FOUND: "ok", Status.MISSING: "MISSING", Status.INVALID: "BAD", Status.UNKNOWN: "?"}


def _lookup(name: str, lookup: Lookup, found: str) -> str:
    if lookup.status is Status.FOUND:
        return f"  {name}: ok - {found}"
    note = f" - {lookup.note}" if lookup.note else ""
    return f"  {name}: {_MARK[lookup.status]}{note}"


def _clip(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def dns_lines(results: Sequence[DomainDns]) -> list[str]:
    """Per domain: SPF, DKIM per selector, DMARC with its policy, MX, and what is missing."""
    if not results:
        return ["No domain is configured: add [[domains]] tables to the config."]
    lines: list[str] = []
    for result in results:
        problems = result.problems()
        verdict = "missing " + ", ".join(problems) if problems else "all present"
        lines.append(f"{result.domain}: {verdict}")
        lines.append(_lookup("SPF", result.spf, _clip(" | ".join(result.spf.values))))
        for selector, lookup in result.dkim:
            lines.append(_lookup(f"DKIM {selector}", lookup, "key published"))
        lines.append(_lookup("DMARC", result.dmarc, f"p={result.dmarc_policy}"))
        lines.append(_lookup("MX", result.mx, _clip(", ".join(result.mx.values))))
        unknown = result.unknown()
        if unknown:
            lines.append("  could not check: " + "; ".join(unknown))
    return lines
