"""The TOML config and uploaded campaigns under random documents: a config, or a ConfigError
whose every line is placed at a key or table (or names the file for a syntax error), never
another exception; no secret in any message.

Documents are drawn from the config model itself: its tables and keys, each value either one
a user might write (valid or nearly) or anything at all (wrong types, huge numbers, inf/nan,
CR/LF and quotes in strings), plus unknown keys.
"""

from __future__ import annotations

import copy
import math
import re
import tempfile
import tomllib
import types
import typing
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from config import ConfigError, OutreachConfig, load_campaign, load_config
from config.model import CampaignConfig
from tests.reliability.profiles import fuzz

ENV = {"SMTP_PASS": "env-secret-V4lue", "MG_KEY": "mg-secret-K3y", "EMPTY": ""}
SECRET_KEY = re.compile(r"password|passwd|secret|token|api_key|access_key|credential", re.I)

ODD_STRINGS = [
    "", " ", "\t", "line\r\nbreak", "cr\ronly", 'say "hi"', "it's", "back\\slash", "\x00",
    "\x7f", "\u2028", "ünïcödé", "日本語", "🙂", "x" * 300, "env:", "env:1BAD", "env:NOT_SET",
    "env:EMPTY", "env:SMTP_PASS", "env: MG_KEY ",
]  # fmt: skip
LIKELY_STRINGS = [
    "UTC", "Europe/Berlin", "Mars/Olympus", "/etc/passwd", "../x", "https://u.brand-news.com",
    "http://", "ftp://x.org", "https://a b.com", "alex@brand-news.com", "ALEX@Brand-News.COM",
    "x@y", "@brand-news.com", "brand-news.com", "Brand-News.COM", "localhost", "mg", "q4",
    "mailgun", "ses", "sendgrid", "postmark", "tls", "starttls", "none", "09:00-17:00",
    "24:00-01:00", "9-5", "00:00-24:00", "mon", "SUN", "funday", "127.0.0.1:5353", "[::1]:53",
    "::1", "1.2.3.4:99999", "127.0.0.1:²", "127.0.0.1:٣", "smtp.example.org", "eu-west-1",
    "Hi {{ first_name }}", "{{ first_name | default('there') }}", "{% for x in y %}", "{{",
    "{a|b|c}", "{{ x.__class__ }}", "{{ 9**9**9 }}", "{% raw %}", "}}",
]  # fmt: skip
STRINGS = st.one_of(st.sampled_from(LIKELY_STRINGS + ODD_STRINGS), st.text(max_size=40))
NUMBERS = st.one_of(
    st.integers(-5, 100),
    st.sampled_from([0, 1, 23, 24, 65535, 65536, 86_400, 10_000_000, 10_000_001, 2**63 - 1]),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**200),  # beyond TOML's 64 bits: tomllib takes it
    st.floats(),  # inf, nan, huge and tiny
    st.sampled_from([0.03, 1.5, -0.0, 1e308, math.inf, -math.inf, math.nan]),
)
SCALARS = st.one_of(STRINGS, NUMBERS, st.booleans(), st.dates())
ANY = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b c", ""]), inner)
    ),
    max_leaves=6,
)
UNKNOWN_KEYS = st.sampled_from(["colour", "daily_limt", "Name", "pass word", "", "ü", "a.b"])


def unwrap(annotation: Any) -> list[Any]:
    """The types a field's annotation allows, Annotated and Optional taken apart."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in unwrap(arg) if t is not None]
    if annotation is type(None):
        return []
    return [annotation]


SIMPLE: dict[Any, st.SearchStrategy[Any]] = {
    bool: st.booleans(),
    int: NUMBERS,
    float: NUMBERS,
    date: st.dates(),
    str: STRINGS,
    SecretStr: STRINGS,
}


def for_type(kind: Any, depth: int) -> st.SearchStrategy[Any]:
    """A value a user might write for a field of this type."""
    origin = typing.get_origin(kind)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return table(kind, depth + 1)
    if origin is list:
        (item,) = typing.get_args(kind)
        return st.lists(for_type(item, depth), max_size=3 if depth < 2 else 1)
    if origin is typing.Literal:
        return st.one_of(st.sampled_from(typing.get_args(kind)), STRINGS)
    return SIMPLE.get(kind, ANY)


def field_value(annotation: Any, depth: int) -> st.SearchStrategy[Any]:
    kinds = unwrap(annotation)
    likely = st.one_of(*(for_type(kind, depth) for kind in kinds)) if kinds else ANY
    # Mostly a value of the right shape; now and then anything at all.
    return st.one_of(likely, likely, likely, ANY)


def table(model: type[BaseModel], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """A table of `model`: some of its keys (required ones usually), maybe an unknown key."""
    fields = model.model_fields

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, info in fields.items():
            if draw(st.integers(0, 9)) < (8 if info.is_required() else 4):
                out[name] = draw(field_value(info.annotation, depth))
        if draw(st.integers(0, 9)) == 0:
            out[draw(UNKNOWN_KEYS)] = draw(ANY)
        return out

    return build()


# --- a small TOML writer (tomllib only reads) ----------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_string(text: str) -> str:
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else toml_string(key)


def toml_value(value: Any) -> str:  # noqa: PLR0911 - a return per TOML type
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    pairs = (f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
    return "{" + ", ".join(pairs) + "}"


def toml_document(data: dict[str, Any]) -> str:
    """Top-level values, then [tables] and [[arrays of tables]]; deeper ones inline."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items() if not _section(v)]
    for key, value in data.items():
        if isinstance(value, dict) and _section(value):
            lines += ["", f"[{toml_key(key)}]"]
            lines += [f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()]
        elif _section(value):
            for item in value:
                lines += ["", f"[[{toml_key(key)}]]"]
                lines += [f"{toml_key(str(k))} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def _section(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )


# --- properties ----------------------------------------------------------------------------

PLACE = re.compile(r'(?P<key>[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*")(?:\[\d+\]|\.|:)')
PYTHON_WORDS = ("Traceback", "invalid literal for int()", "object has no attribute", "NoneType")


def secrets_in(node: Any, secret: bool = False) -> set[str]:
    """String values under secret-looking keys: none may be shown in an error."""
    if isinstance(node, dict):
        found: set[str] = set()
        for key, value in node.items():
            found |= secrets_in(value, secret or bool(SECRET_KEY.search(str(key))))
        return found
    if isinstance(node, list):
        return set().union(*(secrets_in(item, secret) for item in node))
    if secret and isinstance(node, str) and len(node) >= 3 and not node.startswith("env:"):
        return {node}
    return set()


def assert_placed(error: ConfigError, data: dict[str, Any], env: dict[str, str] = ENV) -> None:
    """Every line starts at a key path whose first key is in the document (or is required)."""
    assert error.errors, "a ConfigError with no message"
    for line in error.errors:
        assert line and "\n" not in line and "\r" not in line, line
        assert not any(words in line for words in PYTHON_WORDS), line
        match = PLACE.match(line)
        assert match is not None, f"not placed: {line!r}"
        key = match.group("key").strip('"')
        assert key in data or key in OutreachConfig.model_fields, line
    shown = "\n".join(error.errors)
    for secret in secrets_in(data) | {v for v in env.values() if len(v) >= 3}:
        assert secret not in shown, f"secret shown: {secret!r}"


def load(text: str) -> OutreachConfig:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "outreach.toml"
        path.write_text(text, encoding="utf-8")
        return load_config(path, ENV)


@fuzz()
@given(table(OutreachConfig))
@example({"unsubscribe": {"base_url": "https://u.example.com", "listen": "127.0.0.1:²"}})
@example({"dns": {"nameserver": "127.0.0.1:²"}})
def test_config_documents(data: dict[str, Any]) -> None:
    try:
        config = load(toml_document(data))
    except ConfigError as exc:
        assert_placed(exc, data)
    else:
        config.rules()  # a config that loads is usable: nothing overflows or fails later


@fuzz()
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1"))))
def test_config_text(text: str) -> None:
    try:
        load(text)
    except ConfigError as exc:
        for line in exc.errors:
            assert "outreach.toml" in line or PLACE.match(line), line
            assert not any(words in line for words in PYTHON_WORDS), line


@fuzz()
@given(table(CampaignConfig), st.integers(0, 3), st.one_of(st.none(), ANY))
def test_campaign_uploads(campaign: dict[str, Any], copies: int, extra: Any) -> None:
    data: dict[str, Any] = {"campaigns": [campaign] * copies}
    if extra is not None:
        data["other"] = extra
    try:
        loaded = load_campaign(toml_document(data), "q4.toml")
    except ConfigError as exc:
        assert_placed(exc, data)
    else:
        assert copies == 1 and extra is None
        loaded.spec()


@fuzz()
@given(st.text())
def test_campaign_upload_text(text: str) -> None:
    try:
        load_campaign(text, "q4.toml")
    except ConfigError as exc:
        for line in exc.errors:
            assert "q4.toml" in line or PLACE.match(line), line


# --- the example config with one change ------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = tomllib.loads((ROOT / "outreach.example.toml").read_text(encoding="utf-8"))
EXAMPLE_ENV = {
    key: value for key, value in dotenv_values(ROOT / ".env.example").items() if value is not None
}


def places(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every key path and array index in a document, tables and arrays included."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index)
            yield from places(value, (*path, index))


PLACES = list(places(EXAMPLE))


@st.composite
def one_change(draw: st.DrawFn) -> dict[str, Any]:
    """The example config with one value replaced or removed, or one unknown key added."""
    data = copy.deepcopy(EXAMPLE)
    path = draw(st.sampled_from(PLACES))
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    how = draw(st.sampled_from(["replace", "replace", "remove", "unknown"]))
    if how == "unknown" and isinstance(parent, dict):
        parent[draw(UNKNOWN_KEYS)] = draw(ANY)
    elif how == "remove":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(st.one_of(SCALARS, ANY))
    return data


@fuzz(examples=60)  # the example config is 30 mailboxes: each load takes a while
@given(one_change())
def test_example_config_with_one_change(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "outreach.toml"
        path.write_text(toml_document(data), encoding="utf-8")
        try:
            config = load_config(path, EXAMPLE_ENV)
        except ConfigError as exc:
            assert_placed(exc, data, EXAMPLE_ENV)
        else:
            config.rules()
