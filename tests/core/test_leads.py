"""Leads files, the pure part (SPEC 5): headers, the address check, vars JSON, the report."""

from __future__ import annotations

import json

import pytest
from email_validator import SPECIAL_USE_DOMAIN_NAMES
from hypothesis import example, given, settings
from hypothesis import strategies as st

import core.leads
from core.leads import (
    HeaderError,
    ImportReport,
    InvalidAddress,
    Layout,
    MissingRow,
    RowProblem,
    check_address,
    fast_address,
    fast_addresses,
    missing_in_row,
    normalise_address,
    normalise_header,
    normalise_headers,
    positions,
    report_lines,
    row_values,
    surely_invalid,
    vars_column_encoder,
    vars_encoder,
)

# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("First Name", "first_name"),
        ("  Company  ", "company"),
        ("E-Mail", "e_mail"),
        ("Email Address", "email_address"),
        ("FirstName", "first_name"),
        ("userID", "user_id"),
        ("HTTPServer", "http_server"),
        ("Straße", "straße"),
        ("Ünvan (iş)", "ünvan_iş"),
        ("Phone #2", "phone_2"),
        ("__x__", "x"),
        ("???", ""),
        ("", ""),
    ],
)
def test_header_becomes_snake_case(raw: str, name: str) -> None:
    assert normalise_header(raw) == name


def test_blank_headers_are_numbered_and_repeats_suffixed() -> None:
    raw = ["Email", "", "Note", "note", "NOTE", "note_2", "???"]
    assert normalise_headers(raw) == [
        "email",
        "column_2",
        "note",
        "note_2",
        "note_3",
        "note_2_2",
        "column_7",
    ]


@pytest.mark.parametrize(
    "header", ["email", "EMAIL", "E-Mail", "e-mail", "Email Address", "email_address", "Mail"]
)
def test_email_column_is_found_by_any_usual_name(header: str) -> None:
    layout = Layout.from_headers(["Name", header, "Company"])
    assert layout.email_index == 1
    assert layout.names == ("name", "company")
    assert layout.indices == (0, 2)


def test_no_email_column_names_the_headers_found() -> None:
    with pytest.raises(HeaderError, match=r"no e-mail column.*'Name', 'Company'"):
        Layout.from_headers(["Name", "Company"])


def test_two_email_columns_are_refused() -> None:
    with pytest.raises(HeaderError, match=r"several e-mail columns \('Email', 'E-Mail'\)"):
        Layout.from_headers(["Email", "E-Mail"])


def test_a_repeated_email_header_is_two_email_columns_not_email_2() -> None:
    with pytest.raises(HeaderError, match=r"several e-mail columns \('Email', 'email'\)"):
        Layout.from_headers(["Email", "Name", "email"])


def test_layout_splits_required_variables_into_checked_and_absent() -> None:
    layout = Layout.from_headers(
        ["Email", "First Name", "Company"], frozenset({"company", "first_name", "city"})
    )
    assert layout.checks == ((1, "company"), (0, "first_name"))
    assert layout.absent == ("city",)


# --- rows ------------------------------------------------------------------------------------


def test_row_values_pads_short_rows_ignores_extra_cells_and_trims() -> None:
    values = row_values(Layout.from_headers(["First", "Email", "Last"]))
    assert values([" Ann ", "a@b.com", "Lee", "extra"]) == ("Ann", "Lee")
    assert values(["Ann", "a@b.com"]) == ("Ann", "")
    assert values([]) == ("", "")
    only = row_values(Layout.from_headers(["Email", "Company"]))
    assert only(["a@b.com", " Acme "]) == ("Acme",)
    assert row_values(Layout.from_headers(["Email"]))(["a@b.com"]) == ()


def test_missing_in_row_lists_blank_and_absent_variables() -> None:
    layout = Layout.from_headers(["Email", "First Name"], frozenset({"first_name", "company"}))
    assert missing_in_row(layout, ("Ann",)) == ("company",)
    assert missing_in_row(layout, ("",)) == ("company", "first_name")
    plain = Layout.from_headers(["Email", "First Name"], frozenset({"first_name"}))
    assert missing_in_row(plain, ("Ann",)) == ()


NAMES = ("first_name", "company", "note")


def test_vars_json_leaves_blank_values_out() -> None:
    encode = vars_encoder(NAMES)
    assert json.loads(encode(("Ann", "Acme", "hi"))) == {
        "first_name": "Ann",
        "company": "Acme",
        "note": "hi",
    }
    assert json.loads(encode(("Ann", "", "hi"))) == {"first_name": "Ann", "note": "hi"}
    assert encode(("", "", "")) == "{}"
    assert vars_encoder(())(()) == "{}"


@given(st.tuples(st.text(), st.text(), st.text()))
@example(('say "hi"', "back\\slash", "tab\there"))
@example(("100%", "%s", "\x00\x1f\u2028"))
def test_vars_json_is_always_valid_and_exact(values: tuple[str, str, str]) -> None:
    encoded = vars_encoder(NAMES)(values)
    assert json.loads(encoded) == {name: v for name, v in zip(NAMES, values, strict=True) if v}


def test_vars_json_keeps_unusual_header_names() -> None:
    encode = vars_encoder(("straße", "100%"))
    assert json.loads(encode(("a", "b"))) == {"straße": "a", "100%": "b"}


# Values that take each of vars_encoder's ways: plain, blank, to escape, non-ASCII, `%`.
_VALUES = st.one_of(
    st.sampled_from(["", "Ann", "Acme GmbH", 'say "hi"', "back\\slash", "\x7f", "%s", "Zoë"]),
    st.text(max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["first_name", "company", "100%", "straße", 'q"t']), unique=True),
    st.integers(0, 12),
    st.data(),
)
def test_vars_for_a_chunk_equal_vars_row_by_row(
    names: list[str], count: int, data: st.DataObject
) -> None:
    columns = [data.draw(st.lists(_VALUES, min_size=count, max_size=count)) for _ in names]
    encode = vars_encoder(names)
    assert vars_column_encoder(names)(columns, count) == [
        encode([column[k] for column in columns]) for k in range(count)
    ]


@given(st.text())
@example("plain ascii")
@example("tab\there")
@example("\x7f")
@example("Zoë \u2028")
def test_the_escaping_check_is_vars_encoders(text: str) -> None:
    assert core.leads._needs_escaping(text) == (
        '"' in text or "\\" in text or not text.isprintable()
    )


def test_positions_finds_every_hit_in_order() -> None:
    assert positions(["", "a", "", "b", ""], "") == [0, 2, 4]
    assert positions(["a", None, "b"], None) == [1]
    assert positions([], "x") == []


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        (" John.Smith@Example.COM ", "John.Smith@example.com"),
        ("a+tag@sub.domain.co.uk", "a+tag@sub.domain.co.uk"),
        ("o'brien@x-y.io", "o'brien@x-y.io"),
        ("Info@Acme.com", "info@acme.com"),  # RFC 2142 role name, as email-validator does
        ("\u00a0ann@acme.com\t", "ann@acme.com"),
    ],
)
def test_plain_addresses_take_the_fast_path(raw: str, normalised: str) -> None:
    assert fast_address(raw.strip()) == normalised
    assert check_address(raw.strip()) == normalised
    assert normalise_address(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("jörg@Bücher.de", "jörg@bücher.de"),
        ("ann@xn--bcher-kva.de", "ann@bücher.de"),
        ("ab@a--b.com", "ab@a--b.com"),
    ],
)
def test_other_valid_addresses_are_left_to_email_validator(raw: str, normalised: str) -> None:
    assert fast_address(raw) is None
    assert normalise_address(raw) == normalised


@pytest.mark.parametrize("domain", sorted(SPECIAL_USE_DOMAIN_NAMES))
def test_special_use_domains_are_rejected(domain: str) -> None:
    address = f"ann@mail.{domain}"
    assert fast_address(address) is None
    with pytest.raises(InvalidAddress, match="special-use or reserved"):
        normalise_address(address)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "the e-mail cell is empty"),
        ("   ", "the e-mail cell is empty"),
        ("ann", "must have an @-sign"),
        ("ann@acme", "should have a period"),
        ("ann smith@acme.com", "invalid characters before the @-sign: SPACE"),
        ("ann..smith@acme.com", "two periods in a row"),
        (".ann@acme.com", "cannot start with a period"),
        ("ann@-acme.com", "cannot have a hyphen immediately after the @-sign"),
        ("ann@acme.c0m1", "not within a valid top-level domain"),
        ("Ann <ann@acme.com>", "display name"),
        ('"ann"@acme.com', "Quoting the part before the @-sign is not allowed"),
        ("ann@[192.0.2.1]", "bracketed IP address"),
        ("a" * 250 + "@acme.com", "too long"),
    ],
)
def test_invalid_addresses_carry_email_validator_reasons(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason.replace("(", r"\(").replace("[", r"\[")):
        normalise_address(raw)


# Strings close to the fast path's border: mostly addresses it takes, each mutated now and
# then by what pushes an address over the border (non-ASCII, quotes, spaces, brackets, dots
# and hyphens in the wrong place, special-use TLDs, Punycode, over-long labels and addresses).
_ATEXT = "aZ9._-+'!#%&*/=?^`{|}~"
_GOOD_LOCAL = st.text(_ATEXT, min_size=1, max_size=12)
_ANY_LOCAL = st.text(_ATEXT + '"\\ ()<>@\u00fc\u0301', min_size=0, max_size=12)
_GOOD_LABEL = st.text("abZ09-", min_size=1, max_size=8)
_ANY_LABEL = st.sampled_from(
    ["xn--bcher-kva", "ab--cd", "a" * 63, "a" * 64, "\u00fc", "-a", "a-", "", "a_b"]
)
_GOOD_TLD = st.sampled_from(["com", "io", "COM", "Org"])
_ANY_TLD = st.one_of(
    st.sampled_from([*SPECIAL_USE_DOMAIN_NAMES, "c0m", "x", "\u00fc", "co-", "xn--p1ai"]),
    st.text("az09-", min_size=0, max_size=5),
)


@st.composite
def _near_addresses(draw: st.DrawFn) -> str:
    def pick(good: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> str:
        return draw(bad if draw(st.integers(0, 9)) == 0 else good)

    labels = [pick(_GOOD_LABEL, _ANY_LABEL) for _ in range(draw(st.integers(1, 3)))]
    text = f"{pick(_GOOD_LOCAL, _ANY_LOCAL)}@{'.'.join([*labels, pick(_GOOD_TLD, _ANY_TLD)])}"
    if draw(st.integers(0, 9)) == 0:
        text = text.replace(".", draw(st.sampled_from(["..", ".-", "-.", "@."])), 1)
    if draw(st.integers(0, 19)) == 0:
        text = "x" * draw(st.integers(200, 260)) + text
    return text


@settings(max_examples=500, deadline=None)
@given(st.one_of(_near_addresses(), st.text(max_size=40)))
@example("Info@Acme.COM")
@example("a@b.co")
def test_fast_path_accepts_only_what_email_validator_accepts(text: str) -> None:
    """The fast path is a strict subset of email-validator, with the same normalised form."""
    fast = fast_address(text)
    if fast is not None:
        assert check_address(text) == fast


_CHUNK_TEXTS = st.one_of(
    _near_addresses(),
    st.text(max_size=40),
    st.sampled_from(
        ["", "Info@Acme.com", "info@acme.com", "SALES@x.io", "a@b.TEST", "a@b.test", "x\ny@z.com"]
    ),
    st.builds(lambda n: "a" * n + "@acme.com", st.integers(50, 250)),
    st.builds(lambda n: "ann@" + "b" * n + ".com", st.integers(55, 70)),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_CHUNK_TEXTS, max_size=30))
@example(["ann@acme.com", "Info@acme.com", "ANN@ACME.COM", "bad address", ""])
@example(["a\nb@acme.com", "ann@acme.com"])
def test_fast_addresses_equal_fast_address_on_each(texts: list[str]) -> None:
    """The chunk-at-once path gives fast_address's verdicts, so the proof above covers it."""
    found, misses = fast_addresses(texts)
    assert found == [fast_address(text) for text in texts]
    assert misses == [k for k, address in enumerate(found) if address is None]


def test_fast_addresses_leave_only_odd_addresses_to_fast_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def spy(text: str) -> str | None:
        calls.append(text)
        return fast_address(text)

    monkeypatch.setattr(core.leads, "fast_address", spy)
    plain = [f"user{i}.name@example{i % 7}.co.uk" for i in range(200)]
    odd = ["Info@acme.com", "ann@ACME.com", "a@b.test", "not an address", ""]
    found, _ = fast_addresses(plain + odd)
    assert found[:200] == plain
    assert calls == odd


# Texts email-validator rejects for a reason the fast check knows: a space, or no @-sign,
# in the near-addresses of the proof above, in display names and with spaces anywhere.
@st.composite
def _spaced_or_without_at(draw: st.DrawFn) -> str:
    text = draw(st.one_of(_near_addresses(), st.text(max_size=30)))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from([" ", "  ", " <", "> "])) + text[at:]
    else:
        text = text.replace("@", draw(st.sampled_from(["", " at ", "(at)", "\uff20"])))
    return text


@settings(max_examples=500, deadline=None)
@given(_spaced_or_without_at())
@example("Ann Lee <ann@acme.com>")
@example("ann@acme.com (Ann)")
@example("n/a")
@example('"ann lee"@acme.com')
def test_surely_invalid_texts_are_rejected_by_email_validator(text: str) -> None:
    text = text.strip()
    if surely_invalid(text):
        with pytest.raises(InvalidAddress):
            check_address(text)


def test_surely_invalid_knows_spaces_and_missing_at_signs_only() -> None:
    assert surely_invalid("ann smith@acme.com")
    assert surely_invalid("n/a")
    assert not surely_invalid("ann@acme.com")
    assert not surely_invalid("ann@@acme.com")  # invalid, but email-validator decides it
    # Guards the property test above against testing nothing.
    hits = 0

    @settings(max_examples=200, deadline=None, database=None)
    @given(_spaced_or_without_at())
    def count(text: str) -> None:
        nonlocal hits
        hits += surely_invalid(text.strip())

    count()
    assert hits > 100


def test_the_border_generator_reaches_both_sides() -> None:
    # Guards the property test above against testing nothing: plenty of its inputs must be
    # taken by the fast path and plenty left to email-validator.
    taken = 0
    seen = 0

    @settings(max_examples=200, deadline=None, database=None)
    @given(_near_addresses())
    def count(text: str) -> None:
        nonlocal taken, seen
        seen += 1
        taken += fast_address(text) is not None

    count()
    assert seen * 0.2 < taken < seen * 0.8


# --- the report ------------------------------------------------------------------------------


def _report(**changes: object) -> ImportReport:
    fields: dict[str, object] = {
        "campaign": "q4",
        "rows_read": 100,
        "imported": 80,
        "invalid": 12,
        "invalid_rows": tuple(RowProblem(n, "bad") for n in range(2, 12)),
        "duplicate_in_file": 3,
        "already_in_campaign": 2,
        "suppressed": 1,
        "held_by_other_campaign": 1,
        "missing_variables": 1,
        "missing_rows": (MissingRow(40, ("company", "first_name")),),
        "absent_columns": (),
    }
    fields.update(changes)
    return ImportReport(**fields)  # type: ignore[arg-type]


def test_report_lines_give_every_count_and_the_first_reasons() -> None:
    lines = report_lines(_report())
    assert lines[:4] == [
        "Import into campaign 'q4'",
        "rows read: 100",
        "imported: 80",
        "invalid: 12",
    ]
    assert "  row 2: bad" in lines
    assert "  ... and 2 more" in lines
    assert "duplicate in file (first occurrence kept): 3" in lines
    assert "already in the campaign: 2" in lines
    assert any(line.startswith("suppressed") and line.endswith(": 1") for line in lines)
    assert "skipped: another active campaign holds the address: 1" in lines
    assert "missing template variables: 1" in lines
    assert "  row 40: lacks company, first_name" in lines


def test_report_lines_leave_out_empty_categories_and_name_absent_columns() -> None:
    clean = report_lines(
        _report(
            rows_read=5,
            imported=5,
            invalid=0,
            invalid_rows=(),
            duplicate_in_file=0,
            already_in_campaign=0,
            suppressed=0,
            held_by_other_campaign=0,
            missing_variables=0,
            missing_rows=(),
        )
    )
    assert clean == ["Import into campaign 'q4'", "rows read: 5", "imported: 5"]
    absent = report_lines(_report(absent_columns=("company",)))
    assert "  the file has no column for: company" in absent
    assert _report().skipped == 20
