"""Composition root: parses the command line and wires settings, config and services."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from check import summary_lines
from config import ENV_FILE, ConfigError, environ_with_dotenv, load_config, load_settings

Command = Callable[[argparse.Namespace], int]


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config and print what it holds, or every error with its place."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        _print_errors(exc.errors, "the settings (environment / .env)")
        return 1
    path: Path = args.config or settings.outreach_config
    try:
        config = load_config(path, environ_with_dotenv(ENV_FILE, os.environ))
    except ConfigError as exc:
        _print_errors(exc.errors, str(path))
        return 1
    today = args.date or datetime.now(ZoneInfo(config.sending.timezone)).date()
    print("\n".join(summary_lines(config, today, str(path))))
    return 0


def _print_errors(errors: list[str], where: str) -> None:
    print(f"{len(errors)} error(s) in {where}:")
    for error in errors:
        print(f"  {error}")


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
    check.set_defaults(run=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status is returned."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
