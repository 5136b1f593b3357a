"""/upload: what it expects, its progress message and what an import or a campaign file did."""

from __future__ import annotations

from bot.uploads import PENDING_FOR
from bot.views.common import number
from core.leads import ImportReport, report_lines
from engine.uploads import StoredCampaign


def upload_usage() -> str:
    """What /upload expects."""
    minutes = int(PENDING_FOR.total_seconds() // 60)
    return (
        "Send a .csv or .xlsx leads file with the caption /upload <campaign>, or send "
        f"/upload <campaign> and then the file within {minutes} minutes. A campaign is "
        "uploaded as a .toml file holding one [[campaigns]] table."
    )


def upload_waiting(campaign: str) -> str:
    """After /upload <campaign>: the file is awaited."""
    minutes = int(PENDING_FOR.total_seconds() // 60)
    return f"Send the .csv or .xlsx file for campaign {campaign!r} within {minutes} minutes."


def upload_choose(count: int, shown: int) -> str:
    """Above the campaign keyboard of `shown` of `count` campaigns."""
    if not count:
        return (
            "There is no campaign yet. Send a .toml file holding one [[campaigns]] table "
            "to create one."
        )
    more = (
        f" The first {shown} of {count} are shown; name any other with /upload <campaign>."
        if shown < count
        else ""
    )
    return f"Which campaign do the leads go to? (Or send a .toml file to add a campaign.){more}"


def upload_without_campaign() -> str:
    """A leads file arrived but no campaign was named."""
    return "Which campaign is this file for? Send /upload <campaign>, then the file again."


def import_started(campaign: str, file_name: str) -> str:
    """The progress message's first text."""
    return f"Importing {file_name} into {campaign!r}..."


def import_progress(campaign: str, rows: int) -> str:
    """The progress message while rows are read."""
    return f"Importing into {campaign!r}... {number(rows)} rows read"


def import_done(report: ImportReport) -> str:
    """The progress message once the import is over."""
    return f"Import into {report.campaign!r} done: {number(report.rows_read)} rows read."


def import_report(report: ImportReport) -> list[str]:
    """The SPEC 5 report."""
    return report_lines(report)


def campaign_stored(stored: StoredCampaign) -> str:
    """After a .toml upload."""
    what = "created" if stored.created else "replaced"
    return (
        f"Campaign {stored.name!r} {what} with {stored.steps} step(s). "
        f"Upload its leads with /upload {stored.name}."
    )
