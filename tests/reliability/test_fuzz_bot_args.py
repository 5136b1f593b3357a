"""Bot command arguments under random text: a parsed value or the documented AdminError, only."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bot.parsing import (
    EXPECTED,
    LEAD_USAGE,
    MAX_DAYS,
    MAX_PLAN_MAILBOXES,
    MAX_PLAN_TARGET,
    PLAN_USAGE,
    WARMUP_USAGE,
    Action,
    parse_days,
    parse_entry,
    parse_lead,
    parse_plan,
    parse_warmup,
)
from bot.routers.upload import UploadButton
from bot.uploads import FileKind, check_document
from core.addresses import DOMAIN_RE
from engine.admin import AdminError, unknown
from engine.control import Target, Unknown, resolve_name
from tests.reliability.profiles import fuzz

# Pieces a person (or a paste) puts into a command: numbers in several scripts, addresses,
# verbs, odd whitespace and control characters, and anything else unicode has.
TOKENS = st.sampled_from(
    [
        "0", "1", "14", "365", "366", "9" * 30, "-3", "+5", "1.5", "1e3", "٣", "²", "①", "１２",
        "start", "STOP", "Start", "show", "force", "all",
        "jane@example.com", "@example.com", "@", "@@", "a@b", "Jane@Example.COM.", "x@-a.com",
        "\u00a0", "\u2028", "\x00", "\t", "\r\n", "\u200b", "ß", "İ", "ﬁ",
    ]
)  # fmt: skip
SPACES = st.sampled_from([" ", "  ", "\t", "\n", "\u3000", "\u00a0", ""])
ARGS = st.one_of(
    st.none(),
    st.text(),
    st.lists(st.tuples(st.one_of(TOKENS, st.text(max_size=12)), SPACES), max_size=6).map(
        lambda parts: "".join(word + space for word, space in parts)
    ),
    st.text(min_size=1000, max_size=5000),  # very long
)


def assert_user_error(error: AdminError, expected: str) -> None:
    """A short one-line message that says what was expected."""
    text = str(error)
    assert expected in text
    assert "\n" not in text and "\r" not in text
    assert len(text) < 600


@fuzz()
@given(ARGS)
@example("²")  # str.isdigit() but not int(): crashed parse_days with a ValueError
@example("٣")
def test_days(args: str | None) -> None:
    try:
        days = parse_days(args)
    except AdminError as exc:
        assert_user_error(exc, f"expected a number of days from 1 to {MAX_DAYS}")
    else:
        assert 1 <= days <= MAX_DAYS


@fuzz()
@given(ARGS, st.sampled_from(["suppress", "unsuppress"]))
def test_suppress_entry(args: str | None, command: str) -> None:
    try:
        entry = parse_entry(args, command)
    except AdminError as exc:
        assert_user_error(exc, EXPECTED)
    else:
        if entry.is_domain:
            assert DOMAIN_RE.match(entry.value)
            assert entry.stored == f"@{entry.value}"
        else:
            local, at, domain = entry.value.rpartition("@")
            assert at and local and DOMAIN_RE.match(domain)
            assert entry.value == entry.value.lower()
        assert not any(char.isspace() for char in entry.value)


@fuzz()
@given(ARGS)
def test_warmup(args: str | None) -> None:
    try:
        command = parse_warmup(args)
    except AdminError as exc:
        assert_user_error(exc, WARMUP_USAGE)
    else:
        if command.action is Action.SHOW:
            assert command.mailbox == ""
        else:
            assert command.mailbox and command.mailbox.split() == [command.mailbox]


@fuzz()
@given(ARGS)
def test_plan(args: str | None) -> None:
    try:
        command = parse_plan(args)
    except AdminError as exc:
        assert_user_error(exc, PLAN_USAGE)
    else:
        assert command.mailboxes is None or 1 <= command.mailboxes <= MAX_PLAN_MAILBOXES
        assert command.target is None or 1 <= command.target <= MAX_PLAN_TARGET
        assert command.target is None or command.mailboxes is not None


@fuzz()
@given(ARGS)
def test_lead(args: str | None) -> None:
    try:
        address = parse_lead(args)
    except AdminError as exc:
        assert_user_error(exc, LEAD_USAGE)
    else:
        local, at, domain = address.rpartition("@")
        assert at and local and DOMAIN_RE.match(domain)


@fuzz()
@given(
    st.one_of(st.none(), st.text(), TOKENS.map(lambda t: t + ".csv"), st.text().map(str.upper)),
    st.one_of(st.none(), st.integers()),
)
@example("leads.XLSX", 10)
@example("\x00.toml", -1)
def test_uploaded_document(name: str | None, size: int | None) -> None:
    try:
        kind = check_document(name, size)
    except AdminError as exc:
        text = str(exc)
        assert "refused" in text or "is not accepted" in text
    else:
        assert kind in (FileKind.LEADS, FileKind.CAMPAIGN)


NAMES = st.lists(st.one_of(TOKENS, st.text(max_size=20)), max_size=8)


@fuzz()
@given(st.one_of(TOKENS, st.text()), NAMES, NAMES, NAMES, st.booleans())
def test_pause_resume_status_names(
    name: str, mailboxes: list[str], domains: list[str], campaigns: list[str], allow_all: bool
) -> None:
    # /pause, /resume and /status <name> resolve their argument with resolve_name.
    found = resolve_name(
        name, mailboxes=mailboxes, domains=domains, campaigns=campaigns, allow_all=allow_all
    )
    if isinstance(found, Target):
        assert found.name in (*mailboxes, *domains, *campaigns) or (
            allow_all and found.kind == "all"
        )
    else:
        assert isinstance(found, Unknown)
        assert set(found.suggestions) <= {*mailboxes, *domains, *campaigns}


@fuzz()
@given(st.text(), NAMES)
def test_unknown_name_message(name: str, known: list[str]) -> None:
    error = unknown("campaign", name, known)
    assert isinstance(error, AdminError)
    assert str(error).startswith("no campaign named ")


@fuzz()
@given(st.one_of(TOKENS, st.text(), st.integers(min_value=0).map(str)))
@example("²")  # int('²') raised ValueError in the button's handler
def test_upload_button_data(text: str) -> None:
    # The inline button's callback data: normally UploadButton(campaign_id=...).pack(). Data it
    # can't read is refused with ValueError/TypeError, which the router's filter treats as no
    # match (the press is then answered "gone"), never another exception.
    try:
        button = UploadButton.unpack(f"upload:{text}")
    except (ValueError, TypeError):
        return
    assert isinstance(button.campaign_id, int)
