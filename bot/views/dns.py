"""/dns: SPF, DKIM, DMARC and MX per domain, what is missing, and the exact records to add."""

from __future__ import annotations

from collections.abc import Sequence

from core.dns_advice import TxtRecord
from engine.dns_check import DomainDns, Lookup, Status
from engine.dns_fix import DomainReport, FixOutcome

_MARK = {Status.FOUND: "ok", Status.MISSING: "MISSING", Status.INVALID: "BAD", Status.UNKNOWN: "?"}
NO_TOKEN = (
    "/dns fix needs a Cloudflare API token with DNS edit permission: set [dns] "
    'cloudflare_token = "env:CF_TOKEN" in the config. Nothing changed.'
)
NOTHING_TO_FIX = "Nothing /dns fix can add: no SPF or DMARC record is missing (or known exactly)."
EXPECTED = "expected /dns or /dns fix"
QUESTION_RECORDS = 20  # listed in the question, which is one message (Telegram: 4,096 chars)


def _lookup(name: str, lookup: Lookup, found: str) -> str:
    if lookup.status is Status.FOUND:
        return f"  {name}: ok - {found}"
    note = f" - {lookup.note}" if lookup.note else ""
    return f"  {name}: {_MARK[lookup.status]}{note}"


def _clip(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def record_line(record: TxtRecord) -> str:
    """A record to add, exactly as it is published."""
    return f'TXT {record.name} "{record.content}"'


def domain_lines(result: DomainDns) -> list[str]:
    """One domain: SPF, DKIM per selector, DMARC with its policy, MX, and what is missing."""
    problems = result.problems()
    verdict = "missing " + ", ".join(problems) if problems else "all present"
    lines = [f"{result.domain}: {verdict}"]
    lines.append(_lookup("SPF", result.spf, _clip(" | ".join(result.spf.values))))
    for selector, lookup in result.dkim:
        lines.append(_lookup(f"DKIM {selector}", lookup, "key published"))
    lines.append(_lookup("DMARC", result.dmarc, f"p={result.dmarc_policy}"))
    lines.append(_lookup("MX", result.mx, _clip(", ".join(result.mx.values))))
    unknown = result.unknown()
    if unknown:
        lines.append("  could not check: " + "; ".join(unknown))
    return lines


def dns_lines(reports: Sequence[DomainReport], *, can_fix: bool = False) -> list[str]:
    """Every domain's records, then the records to add and the hints under it."""
    if not reports:
        return ["No domain is configured: add [[domains]] tables to the config."]
    lines: list[str] = []
    for report in reports:
        lines += domain_lines(report.result)
        lines += [f"  add: {record_line(record)}" for record in report.advice.records]
        lines += [f"  hint: {hint}" for hint in report.advice.hints]
    if any(report.advice.records for report in reports):
        lines.append(
            "/dns fix adds the records marked add: through Cloudflare (after you confirm)."
            if can_fix
            else "Add the records marked add: at your DNS host (or set [dns] cloudflare_token "
            "and use /dns fix)."
        )
    return lines


def fix_question(records: Sequence[TxtRecord]) -> str:
    """Before `/dns fix` adds records."""
    lines = [f"Add {len(records)} TXT record(s) through Cloudflare?"]
    lines += [f"- {record_line(record)}" for record in records[:QUESTION_RECORDS]]
    if len(records) > QUESTION_RECORDS:
        lines.append(f"- and {len(records) - QUESTION_RECORDS} more (/dns lists them all)")
    lines.append("An existing SPF or DMARC record is never changed.")
    return "\n".join(lines)


def fix_lines(outcome: FixOutcome) -> list[str]:
    """What `/dns fix` did, and the domains as DNS serves them now."""
    lines: list[str] = []
    if outcome.refused is not None:
        lines.append(
            f"{outcome.refused}. Check that [dns].cloudflare_token is valid and has DNS edit "
            "permission for these zones."
        )
    lines += [f"Added {record_line(record)}" for record in outcome.created]
    lines += [
        f"Left as it is: {record.name} already has {_clip(existing)}"
        for record, existing in outcome.kept
    ]
    lines += [f"Not added: {record_line(record)} - {why}" for record, why in outcome.failed]
    if not (outcome.created or outcome.kept or outcome.failed):
        lines.append("Nothing changed.")
    if outcome.after:
        lines += ["", "Checked again:"]
        lines += dns_lines(outcome.after)
    return lines
