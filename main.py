"""Composition root: parses the command line and wires settings, config and services."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import bootstrap
from bot.charts import plan_chart
from bot.views.backup import backup_lines
from bot.views.plan import plan_lines
from bot.views.preview import preview_lines
from bot.views.status import status_lines
from check import connect_lines, summary_lines
from config import (
    ENV_FILE,
    ConfigError,
    OutreachConfig,
    Settings,
    environ_with_dotenv,
    load_config,
    load_settings,
)
from core.connect import failed
from core.errors import OutreachError
from core.leads import report_lines
from core.ramp import plan_for
from core.specs import Rules
from demo.run import DemoOptions, run_demo
from demo.world import DEFAULT_START
from engine.admin import AdminError
from engine.backup import backup_to
from engine.clock import SystemClock
from engine.connect_check import TIMEOUT as CONNECT_TIMEOUT
from engine.importer import import_leads
from engine.lead_files import LeadImportError
from engine.status import gather_status
from logs import configure_logging
from service import run_service

Command = Callable[[argparse.Namespace], int]


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config and print what it holds, or every error with its place."""
    loaded = _load(args)
    if loaded is None:
        return 1
    settings, config = loaded
    path: Path = args.config or settings.outreach_config
    today = args.date or datetime.now(ZoneInfo(config.sending.timezone)).date()
    print("\n".join(summary_lines(config, today, str(path))))
    if not args.connect:
        return 0
    print()
    checks = asyncio.run(bootstrap.check_connections(config, seconds=CONNECT_TIMEOUT))
    print("\n".join(connect_lines(checks, CONNECT_TIMEOUT)))
    return 1 if failed(checks) else 0


def _settings() -> Settings | None:
    """The settings (environment / .env), or None after printing every error in them."""
    try:
        return load_settings()
    except ConfigError as exc:
        _print_errors(exc.errors, "the settings (environment / .env)")
        return None


def _load(args: argparse.Namespace) -> tuple[Settings, OutreachConfig] | None:
    """Settings and config, or None after printing every error."""
    settings = _settings()
    if settings is None:
        return None
    path: Path = getattr(args, "config", None) or settings.outreach_config
    try:
        config = load_config(path, environ_with_dotenv(ENV_FILE, os.environ))
    except ConfigError as exc:
        _print_errors(exc.errors, str(path))
        return None
    return settings, config


def cmd_run(args: argparse.Namespace) -> int:
    """Run the service: sending, upkeep, health, alerts (and the bot with BOT_TOKEN)."""
    loaded = _load(args)
    if loaded is None:
        return 1
    settings, config = loaded
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_service(settings, config))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print what /status shows."""
    loaded = _load(args)
    if loaded is None:
        return 1
    settings, config = loaded

    async def show() -> list[str]:
        async with AsyncExitStack() as stack:
            clock = SystemClock()
            service = await bootstrap.build_service(
                stack, db_path=settings.database_path, config=config, clock=clock, chats=[]
            )
            return status_lines(await gather_status(service.stores.reports, clock, service.rules))

    print("\n".join(asyncio.run(show())))
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    """Print what /preview shows: a step rendered for a lead, sending nothing."""
    loaded = _load(args)
    if loaded is None:
        return 1
    settings, config = loaded

    async def show() -> list[str]:
        async with AsyncExitStack() as stack:
            service = await bootstrap.build_service(
                stack, db_path=settings.database_path, config=config, clock=SystemClock(),
                chats=[],
            )  # fmt: skip
            shown = await service.previews.preview(args.campaign, args.step, args.email)
            return preview_lines(shown)

    try:
        print("\n".join(asyncio.run(show())))
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Import a leads file (.csv/.xlsx) into a campaign and print the SPEC 5 report."""
    loaded = _load(args)
    if loaded is None:
        return 1
    settings, config = loaded

    async def load() -> list[str]:
        async with AsyncExitStack() as stack:
            clock = SystemClock()
            # The sync makes sure the config's campaigns exist before leads go into one.
            service = await bootstrap.build_service(
                stack, db_path=settings.database_path, config=config, clock=clock, chats=[]
            )
            store = await stack.enter_async_context(service.open_leads())

            async def progress(rows: int) -> None:
                print(f"... {rows} rows read", file=sys.stderr)

            report = await import_leads(
                store, args.file, args.campaign, now=clock.now(), progress=progress
            )
            return report_lines(report)

    try:
        lines = asyncio.run(load())
    except LeadImportError as exc:
        print(f"import failed, nothing was imported: {exc}")
        return 1
    print("\n".join(lines))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Write a consistent copy of the live database to FILE (safe while the service runs)."""
    # Only DATABASE_PATH is needed: a backup must work even while the config has errors.
    settings = _settings()
    if settings is None:
        return 1
    backups = bootstrap.database_backups(settings.database_path)
    copy = asyncio.run(backup_to(backups, SystemClock(), args.file, overwrite=args.force))
    print("\n".join(backup_lines(copy)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write every lead of a campaign to FILE as CSV (what /export sends)."""
    # Only DATABASE_PATH is needed, as for a backup: the leads are in the database.
    settings = _settings()
    if settings is None:
        return 1
    if not settings.database_path.exists():
        print(f"no database at {settings.database_path}; check DATABASE_PATH")
        return 1
    if args.file.exists() and not args.force:
        print(f"{args.file} exists; --force replaces it")
        return 1
    try:
        done = asyncio.run(
            bootstrap.export_campaign(settings.database_path, args.campaign, args.file)
        )
    except AdminError as exc:
        print(exc)
        return 1
    print(f"wrote {done.leads} lead(s) of {done.campaign} to {done.path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the engine against a local SMTP sink on a simulated clock; print a table, write a PNG."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.world == "small" and args.mailboxes is not None:
        print("--mailboxes sizes the job world; the small world has its 12")
        return 2
    options = DemoOptions(
        days=args.days,
        out=args.out,
        seed=args.seed,
        start=args.start,
        world=args.world,
        mailboxes=args.mailboxes,
    )
    result = asyncio.run(run_demo(options))
    print("\n".join(result.closing_lines()))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the pool's warm-up ramp and the day it reaches the target; write the PNG."""
    if args.mailboxes is None and (args.domains is not None or args.domain_limit is not None):
        print("--domains and --domain-limit describe a new pool: give --mailboxes too")
        return 2
    rules = _plan_rules(args)
    if rules is None:
        return 1
    start = args.date or datetime.now(ZoneInfo(rules.timezone)).date()
    plan = plan_for(
        rules,
        start,
        mailboxes=args.mailboxes,
        target=args.target,
        domains=args.domains,
        domain_limit=args.domain_limit,
    )
    print("\n".join(plan_lines(plan)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(plan_chart(plan))
    print(f"Ramp chart: {args.out}")
    return 0


def _plan_rules(args: argparse.Namespace) -> Rules | None:
    """The config's rules; for a new pool without a config file, the defaults of SPEC 4."""
    settings = _settings()
    if settings is None:
        return None
    path: Path = args.config or settings.outreach_config
    if args.mailboxes is not None and not path.exists():
        # Sizing a pool comes before writing a config: the defaults are what a new one gets.
        print(f"(no config at {path}: warm-up and target from the defaults)")
        return Rules()
    loaded = _load(args)
    return None if loaded is None else loaded[1].rules()


def _print_errors(errors: list[str], where: str) -> None:
    print(f"{len(errors)} error(s) in {where}:")
    for error in errors:
        print(f"  {error}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-parser per command, each naming its function."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, default=None, help="TOML config file (default: $OUTREACH_CONFIG)"
    )
    parser = argparse.ArgumentParser(
        prog="main.py", description="Outreach control bot: safe cold e-mail from a mailbox pool."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check", parents=[common], help="validate the config file")
    check.add_argument(
        "--date",
        type=date.fromisoformat,
        default=None,
        help="judge warm-up and capacity as of this day, YYYY-MM-DD (default: today)",
    )
    check.add_argument(
        "--connect",
        action="store_true",
        help="also log in to every mailbox's SMTP and IMAP (sends nothing); exit 1 on a failure",
    )
    check.set_defaults(run=cmd_check)
    commands.add_parser("run", parents=[common], help="run the service (the default)").set_defaults(
        run=cmd_run
    )
    leads = commands.add_parser(
        "import", parents=[common], help="import a leads file into a campaign"
    )
    leads.add_argument("file", type=Path, help="a .csv or .xlsx file with a header row")
    leads.add_argument("--campaign", required=True, help="the campaign's name")
    leads.set_defaults(run=cmd_import)
    commands.add_parser("status", parents=[common], help="print what /status shows").set_defaults(
        run=cmd_status
    )
    preview = commands.add_parser(
        "preview", parents=[common], help="print a campaign step rendered for a lead (no send)"
    )
    preview.add_argument("campaign", help="the campaign's name")
    preview.add_argument("--step", type=_positive, default=None, help="step (default: next)")
    preview.add_argument("--email", default=None, help="the lead (default: first queued)")
    preview.set_defaults(run=cmd_preview)
    backup = commands.add_parser(
        "backup", help="write a consistent copy of the database (safe while the service runs)"
    )
    backup.add_argument("file", type=Path, help="where to write the copy")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    backup.set_defaults(run=cmd_backup)
    export = commands.add_parser("export", help="write a campaign's leads to a CSV file")
    export.add_argument("file", type=Path, help="where to write the CSV")
    export.add_argument("--campaign", required=True, help="the campaign's name")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    export.set_defaults(run=cmd_export)
    plan = commands.add_parser(
        "plan", parents=[common], help="warm-up ramp: when the pool reaches the daily target"
    )
    plan.add_argument(
        "--mailboxes", type=_positive, default=None, help="plan a new pool of N mailboxes"
    )
    plan.add_argument(
        "--target", type=_positive, default=None, help="daily target (default: the config's)"
    )
    plan.add_argument(
        "--domains", type=_positive, default=None, help="domains of the new pool (default N/3)"
    )
    plan.add_argument(
        "--domain-limit", type=_positive, default=None, help="daily cap of each new domain"
    )
    plan.add_argument(
        "--date", type=date.fromisoformat, default=None, help="day 1, YYYY-MM-DD (default: today)"
    )
    plan.add_argument("--out", type=Path, default=Path("plan.png"), help="the PNG (plan.png)")
    plan.set_defaults(run=cmd_plan)
    demo = commands.add_parser("demo", help="simulate weeks of sending against a local sink")
    demo.add_argument("--days", type=_positive, default=35, help="days to simulate (default 35)")
    demo.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder")
    demo.add_argument("--seed", type=int, default=7, help="random seed: same seed, same story")
    demo.add_argument(
        "--world",
        choices=("job", "small"),
        default="job",
        help="job: SPEC 1's 10 domains x 3 new mailboxes ramping to 1,200 a day (default); "
        "small: 4 domains x 3, mostly warm, incidents in the first days",
    )
    demo.add_argument(
        "--mailboxes",
        type=_positive,
        default=None,
        help="the job world's pool: N new mailboxes, three a domain, target 40 x N (default 30)",
    )
    demo.add_argument(
        "--start", type=date.fromisoformat, default=DEFAULT_START, help="first day, YYYY-MM-DD"
    )
    demo.set_defaults(run=cmd_demo)
    parser.set_defaults(run=cmd_run, config=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status is returned."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command = args.run  # no subcommand: run the service (SPEC 2)
    try:
        return run(args)
    except OutreachError as exc:
        # Ours, so its text says what is wrong and what to do (a database that cannot be
        # used, ...): one line, not a traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
