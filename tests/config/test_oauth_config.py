"""`oauth = {...}` in place of `password` on smtp and imap (SPEC 4): the model and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_config
from core.specs import OAuthLogin

SECRET = "Zq9-UNIQUE-client-s3cr3t"
REFRESH = "Rt7-UNIQUE-refresh-t0ken"
ENV = {"MS_SECRET": SECRET, "RT_ALEX": REFRESH}
MICROSOFT = (
    'oauth = { provider = "microsoft", client_id = "app-1", client_secret = "env:MS_SECRET", '
    'refresh_token = "env:RT_ALEX", tenant = "contoso.com" }'
)

TEMPLATE = """
[[domains]]
name = "brand-news.com"

[[mailboxes]]
address = "alex@brand-news.com"
smtp = {{ host = "smtp.office365.com", port = 587, username = "alex@brand-news.com", {smtp} }}
imap = {{ host = "outlook.office365.com", port = 993, username = "alex@brand-news.com", {imap} }}
"""


def load(tmp_path: Path, smtp: str, imap: str = 'password = "p"') -> list[str]:
    path = tmp_path / "outreach.toml"
    path.write_text(TEMPLATE.format(smtp=smtp, imap=imap), encoding="utf-8")
    try:
        load_config(path, ENV)
    except ConfigError as exc:
        return exc.errors
    return []


def test_an_oauth_login_reaches_the_core_with_its_secrets(tmp_path: Path) -> None:
    path = tmp_path / "outreach.toml"
    path.write_text(TEMPLATE.format(smtp=MICROSOFT, imap=MICROSOFT), encoding="utf-8")
    config = load_config(path, ENV)
    mailbox = config.rules().mailboxes[0]
    expected = OAuthLogin(
        provider="microsoft",
        client_id="app-1",
        refresh_token=REFRESH,
        client_secret=SECRET,
        tenant="contoso.com",
    )
    assert mailbox.smtp.oauth == expected
    assert mailbox.smtp.password == ""
    assert mailbox.imap is not None
    assert mailbox.imap.oauth == expected
    assert mailbox.smtp.secrets == (REFRESH, SECRET)
    for shown in (repr(config), str(config.model_dump()), repr(mailbox)):
        assert SECRET not in shown
        assert REFRESH not in shown


def test_tenant_defaults_to_common_and_token_url_overrides(tmp_path: Path) -> None:
    path = tmp_path / "outreach.toml"
    smtp = (
        'oauth = { provider = "microsoft", client_id = "app-1", refresh_token = "env:RT_ALEX", '
        'token_url = "http://127.0.0.1:9/token" }'
    )
    path.write_text(TEMPLATE.format(smtp=smtp, imap='password = "p"'), encoding="utf-8")
    oauth = load_config(path, ENV).rules().mailboxes[0].smtp.oauth
    assert oauth is not None
    assert oauth.tenant == "common"
    assert oauth.client_secret == ""
    assert oauth.endpoint == "http://127.0.0.1:9/token"


PLACE = "mailboxes[0] (alex@brand-news.com)"


@pytest.mark.parametrize(
    ("smtp", "imap", "expected"),
    [
        pytest.param(
            'password = "p", ' + MICROSOFT,
            'password = "p"',
            f"{PLACE}.smtp: has both `password` and `oauth`",
            id="both",
        ),
        pytest.param(
            'security = "starttls"',
            'password = "p"',
            f"{PLACE}.smtp: needs `password` or `oauth = {{...}}`",
            id="neither",
        ),
        pytest.param(
            'password = "p"',
            'oauth = { provider = "yahoo", client_id = "a", refresh_token = "env:RT_ALEX" }',
            f"{PLACE}.imap.oauth.provider: must be one of 'google' or 'microsoft'",
            id="provider",
        ),
        pytest.param(
            'oauth = { provider = "google", client_id = "a", refresh_token = "env:RT_ALEX" }',
            'password = "p"',
            f'{PLACE}.smtp.oauth: provider "google" needs `client_secret`',
            id="google-secret",
        ),
        pytest.param(
            'oauth = { provider = "google", client_id = "a", client_secret = "env:MS_SECRET", '
            'refresh_token = "env:RT_ALEX", tenant = "common" }',
            'password = "p"',
            f'{PLACE}.smtp.oauth: `tenant` is for provider = "microsoft" only',
            id="google-tenant",
        ),
        pytest.param(
            'oauth = { provider = "microsoft", client_id = " ", refresh_token = "env:RT_ALEX" }',
            'password = "p"',
            f"{PLACE}.smtp.oauth.client_id: must not be empty",
            id="client-id",
        ),
        pytest.param(
            'oauth = { provider = "microsoft", client_id = "a" }',
            'password = "p"',
            f"{PLACE}.smtp.oauth.refresh_token: is required but missing",
            id="refresh-token",
        ),
        pytest.param(
            'oauth = { provider = "microsoft", client_id = "a", refresh_token = "env:RT_BOB" }',
            'password = "p"',
            f"{PLACE}.smtp.oauth.refresh_token: environment variable RT_BOB is not set",
            id="env",
        ),
        pytest.param(
            'oauth = { provider = "microsoft", client_id = "a", refresh_token = "x", scope = "y" }',
            'password = "p"',
            f"{PLACE}.smtp.oauth.scope: unknown key 'scope' in oauth of",
            id="unknown-key",
        ),
    ],
)
def test_each_oauth_problem_is_placed(tmp_path: Path, smtp: str, imap: str, expected: str) -> None:
    errors = load(tmp_path, smtp, imap)
    assert any(error.startswith(expected) for error in errors), errors


def test_oauth_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    smtp = (
        f'oauth = {{ provider = "microsoft", client_id = 7, client_secret = "{SECRET}", '
        f'refresh_token = ["{REFRESH}"] }}'
    )
    errors = load(tmp_path, smtp)
    joined = "\n".join(errors)
    assert f"{PLACE}.smtp.oauth.client_id: must be a string (got 7)" in errors
    assert f"{PLACE}.smtp.oauth.refresh_token: must be a string (value not shown)" in errors
    assert SECRET not in joined
    assert REFRESH not in joined
