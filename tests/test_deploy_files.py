"""The deployment files agree with each other and with the code they start (no drift)."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from config import Settings
from core.unsubscribe import MIN_SECRET_BYTES
from web.unsubscribe import build_app

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def unit() -> configparser.SectionProxy:
    """The [Service] section of deploy/outreach.service (a repeated key keeps its last value)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DEPLOY / "outreach.service", encoding="utf-8")
    return parser["Service"]


def dockerfile() -> dict[str, list[str]]:
    """Dockerfile instructions (continuation lines joined) -> their arguments, in order."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.setdefault(word.upper(), []).append(rest.strip())
    return out


def docker_env() -> dict[str, str]:
    """The ENV of the image."""
    env: dict[str, str] = {}
    for args in dockerfile()["ENV"]:
        for part in shlex.split(args):
            name, _, value = part.partition("=")
            env[name] = value
    return env


def default_database() -> PurePosixPath:
    return PurePosixPath(str(Settings.model_fields["database_path"].default))


class _NoLeads:
    async def unsubscribe(self, lead_id: int) -> bool:
        return False

    async def describe(self, lead_id: int) -> str | None:
        return None

    async def is_unsubscribed(self, lead_id: int) -> bool:
        return False


def test_unit_runs_the_venv_from_its_working_directory() -> None:
    service = unit()
    home = PurePosixPath(service["WorkingDirectory"])
    assert service["ExecStart"] == f"{home}/.venv/bin/python main.py run"
    assert service["EnvironmentFile"] == f"{home}/.env"
    # The one writable place is the folder the default DATABASE_PATH lives in.
    assert service["ReadWritePaths"] == str(home / default_database().parent)
    assert service["User"] not in {"", "root", "0"}
    assert service["Restart"] == "on-failure"
    for option, value in [("NoNewPrivileges", "true"), ("ProtectSystem", "strict"),
                          ("PrivateTmp", "true"), ("ProtectHome", "true")]:  # fmt: skip
        assert service[option] == value, option


def test_image_keeps_the_database_on_its_volume_and_runs_unprivileged() -> None:
    instructions = dockerfile()
    env = docker_env()
    assert instructions["FROM"] == ["python:3.11-slim"]
    volumes = [v.strip('[]" ') for v in instructions["VOLUME"]]
    assert str(PurePosixPath(env["DATABASE_PATH"]).parent) in volumes
    assert env["LOG_FORMAT"] == "json"
    user = instructions["USER"][-1].split(":")[0]
    assert user not in {"root", "0"}
    assert instructions["CMD"] == ['["python", "main.py", "run"]']
    installs = [run for run in instructions["RUN"] if "pip install" in run]
    assert installs == ["pip install --no-cache-dir -r requirements.txt"]  # runtime pins, no -dev


def test_healthcheck_asks_a_route_the_web_app_serves() -> None:
    url = urlsplit(docker_env()["HEALTHCHECK_URL"])
    assert "HEALTHCHECK_URL" in dockerfile()["HEALTHCHECK"][0]
    app = build_app(_NoLeads(), b"k" * MIN_SECRET_BYTES)
    paths = {resource.canonical for resource in app.router.resources()}
    assert url.path in paths
    assert dockerfile()["EXPOSE"] == [str(url.port)]


def test_compose_and_caddy_point_at_the_image() -> None:
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    caddy = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    env = docker_env()
    assert f"../outreach.toml:{env['OUTREACH_CONFIG']}:ro" in compose
    assert "env_file: ../.env" in compose
    assert f"outreach-data:{PurePosixPath(env['DATABASE_PATH']).parent}" in compose
    # Caddy reaches the service by its compose name, on the port the image exposes.
    upstream = re.search(r"reverse_proxy (\S+)", caddy)
    assert upstream is not None
    assert upstream.group(1) == f"outreach:{dockerfile()['EXPOSE'][0]}"
    assert re.search(r"^  outreach:$", compose, re.MULTILINE)
    assert "handle /u/*" in caddy  # only the one-click links are public


def test_dockerignore_keeps_secrets_and_state_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for entry in (".env", ".venv", "data/", "*.db", "outreach.toml", ".git"):
        assert entry in ignored, entry
