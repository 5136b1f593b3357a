"""The placed-error report: every problem of a config file as `PATH: MESSAGE`.

PATH is the key path in the TOML file; array indices are 0-based (the first `[[mailboxes]]`
table is `mailboxes[0]`) and are followed by the item's name or address where it has one, e.g.
`mailboxes[3] (alex@brand-news.com).smtp.port: must be <= 65535 (got 70000)`.
A value is never echoed for secret keys (password, api_key, token, secret...) nor when it
came from the environment through `env:NAME`.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from core.errors import SpecError


class ConfigError(SpecError):
    """The config file is unusable; `errors` holds one placed message per problem."""


def parse_toml(raw: bytes, source: str) -> dict[str, Any]:
    """The TOML document in `raw`; ConfigError for text that is not UTF-8 or not TOML."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{source} is not UTF-8 text (byte {exc.start})"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries "(at line L, column C)".
        raise ConfigError([f"TOML syntax error in {source}: {exc}"]) from None


Loc = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)

# Which key names an item of a top-level array, for error paths.
IDENTITY = {
    "mailboxes": "address",
    "seeds": "address",
    "domains": "name",
    "esp": "name",
    "campaigns": "name",
}
_SECRET_KEY = re.compile(r"password|passwd|secret|token|api_key|access_key|credential", re.I)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class Report:
    """Collects placed problems against the raw TOML data, and keeps secrets out of them."""

    def __init__(self, root: type[BaseModel], data: dict[str, Any]) -> None:
        self.root = root
        self.data = data
        self.problems: list[tuple[Loc, str]] = []
        self.from_env: set[Loc] = set()  # values read through env:NAME, never echoed
        self.env_failed: set[Loc] = set()  # unresolved: validation errors there are noise
        self.secrets: set[str] = set()

    def add(self, loc: Loc, message: str) -> None:
        """Record one problem at a key path."""
        self.problems.append((loc, message))

    def resolve_env(self, node: Any, loc: Loc, environ: Mapping[str, str]) -> Any:
        """A copy of `node` with every `env:NAME` string replaced by its variable's value."""
        if isinstance(node, dict):
            return {
                key: self.resolve_env(value, (*loc, key), environ) for key, value in node.items()
            }
        if isinstance(node, list):
            return [self.resolve_env(value, (*loc, i), environ) for i, value in enumerate(node)]
        if not (isinstance(node, str) and node.startswith("env:")):
            if isinstance(node, str) and _is_secret_loc(loc):
                self.secrets.add(node)
            return node
        name = node[4:].strip()
        if not _ENV_NAME.match(name):
            self.add(loc, f"{node!r} must name an environment variable, like env:SMTP_PASSWORD")
            self.env_failed.add(loc)
            return node
        self.from_env.add(loc)
        value = environ.get(name)
        if value is None or value == "":
            state = "is not set" if value is None else "is empty"
            self.add(loc, f"environment variable {name} {state} (the value is env:{name})")
            self.env_failed.add(loc)
            return node
        self.secrets.add(value)
        return value

    def validate(self, model: type[_M], data: dict[str, Any]) -> _M | None:
        """Validate strictly (TOML has real types); record every error, placed, and return None."""
        try:
            return model.model_validate(data, strict=True)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                if loc in self.env_failed:
                    continue
                self.add(loc, self._message(model, err))
        return None

    def _message(self, model: type[BaseModel], err: ErrorDetails) -> str:
        loc = tuple(err["loc"])
        plain = _plain_message(model, err)
        if plain is not None:
            return plain
        text = _typed_message(err)
        if loc in self.from_env or _is_secret_loc(loc):
            return f"{text} (value not shown)"
        value = err.get("input")
        hint = (
            "; write it without quotes"
            if isinstance(value, str) and err["type"] in _QUOTE_HINT
            else ""
        )
        return f"{text} (got {_show(value)}){hint}"

    def place(self, loc: Loc) -> str:
        """`mailboxes[3] (alex@brand-news.com).smtp.port` for a location tuple."""
        out = ""
        for depth, part in enumerate(loc):
            if isinstance(part, int):
                out += f"[{part}]"
                if depth == 1:
                    out += self._identity(str(loc[0]), part)
            else:
                key = part if _BARE_KEY.match(part) else f'"{part}"'
                out += f".{key}" if out else key
        return out

    def _identity(self, table: str, index: int) -> str:
        key = IDENTITY.get(table)
        items = self.data.get(table)
        if key is None or not isinstance(items, list) or index >= len(items):
            return ""
        item = items[index]
        value = item.get(key) if isinstance(item, dict) else None
        if not isinstance(value, str) or value.startswith("env:") or not value.strip():
            return ""
        return f" ({_clip(value.strip(), 60)})"

    def messages(self) -> list[str]:
        """Every problem as `PATH: MESSAGE`, in file order of the top-level keys, secrets masked."""
        lines: list[str] = []
        for loc, message in sorted(self.problems, key=lambda p: self._position(p[0])):
            line = f"{self.place(loc)}: {message}" if loc else message
            line = _printable(self._mask(line))
            if line not in lines:
                lines.append(line)
        return lines

    def _position(self, loc: Loc) -> tuple[int, ...]:
        """Sort key: each key by its place in its model (unknown keys last), items by index."""
        position: list[int] = []
        for depth, part in enumerate(loc):
            if isinstance(part, int):
                position.append(part)
                continue
            model = _model_at(self.root, loc[:depth])
            fields = list(model.model_fields) if model is not None else []
            position.append(fields.index(part) if part in fields else len(fields))
        return tuple(position)

    def _mask(self, line: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 3:
                line = line.replace(secret, "***")
        return line


_TYPE_MESSAGES = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "date_type": "must be a date like 2026-11-20",
    "date_parsing": "must be a date like 2026-11-20",
    "date_from_datetime_parsing": "must be a date like 2026-11-20",
    "date_from_datetime_inexact": "must be a date like 2026-11-20, without a time",
    "list_type": "must be an array",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "dict_type": "must be a table",
}
_QUOTE_HINT = {"int_type", "float_type", "bool_type", "date_type"}
_BOUND_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "literal_error": "must be one of {expected}",
    "too_long": "may have at most {max_length} item(s)",
}


def _plain_message(model: type[BaseModel], err: ErrorDetails) -> str | None:
    """Messages that never show the value: unknown and missing keys, validator messages."""
    loc, kind = tuple(err["loc"]), err["type"]
    if kind == "extra_forbidden":
        return _unknown_key(model, loc)
    if kind == "missing":
        array = len(loc) == 1 and loc[0] in IDENTITY
        return f"is required: add a [[{loc[0]}]] table" if array else "is required but missing"
    if kind in ("value_error", "assertion_error"):
        return strip_prefix(err["msg"])
    if kind == "too_short":
        least = (err.get("ctx") or {}).get("min_length", 1)
        steps = bool(loc) and loc[-1] == "steps"
        return "needs at least one [[campaigns.steps]] table" if steps else f"needs {least}+ items"
    return None


def _typed_message(err: ErrorDetails) -> str:
    """What a value of the wrong type or out of range should have been."""
    loc, kind = tuple(err["loc"]), err["type"]
    if kind == "list_type" and len(loc) == 1 and loc[0] in IDENTITY:
        return f"must be an array of tables, written [[{loc[0]}]]"
    text = _TYPE_MESSAGES.get(kind)
    if text is not None:
        return text
    bound = _BOUND_MESSAGES.get(kind)
    if bound is None:
        return strip_prefix(err["msg"])
    ctx = {key: _number(value) for key, value in (err.get("ctx") or {}).items()}
    return bound.format(**ctx)


def _number(value: Any) -> Any:
    """1 rather than 1.0 for a bound written as an integer."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def strip_prefix(message: str) -> str:
    """A pydantic validator message without its `Value error, ` prefix."""
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _printable(line: str) -> str:
    """Control characters shown escaped (`\\n`): a value's CR/LF must not start a new line."""
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], line)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, str):
        return repr(_clip(value, 40))
    return _clip(repr(value), 40)


def _is_secret_loc(loc: Loc) -> bool:
    return any(isinstance(part, str) and _SECRET_KEY.search(part) for part in loc)


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class of the table at `loc`, following list items and optional tables."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _inner_model(field.annotation) if field is not None else None
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType, Annotated):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _table_name(loc: Loc) -> str:
    """How a user finds a table: `[sending]`, `[[mailboxes]]`, `smtp of [[mailboxes]]`."""
    names = [part for part in loc if isinstance(part, str)]
    if loc and isinstance(loc[-1], int):
        return f"[[{'.'.join(names)}]]"
    if any(isinstance(part, int) for part in loc):
        return f"{names[-1]} of {_table_name(loc[:-1])}"
    return f"[{'.'.join(names)}]"


def _unknown_key(root: type[BaseModel], loc: Loc) -> str:
    key, table = str(loc[-1]), loc[:-1]
    model = _model_at(root, table)
    known = list(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        hint = f" (did you mean {close[0]!r}?)"
    elif known:
        hint = f" (known keys: {', '.join(known)})"
    else:
        hint = ""
    where = f"in {_table_name(table)}" if table else "at the top level"
    return f"unknown key {key!r} {where}{hint}"
