"""Leads files, the pure part (SPEC 5): header names, address checks, the import report.

Rules worth knowing:
- A header becomes `snake_case`: trimmed, camelCase split, lower-cased, every run of
  characters other than letters and digits (any script) turned into one `_`.
  `First Name` -> `first_name`, `E-Mail` -> `e_mail`, `Straße` -> `straße`.
- A blank header (or one with no letter or digit) becomes `column_N`, N its 1-based position,
  so a column someone forgot to name is kept, not an error. A repeated name gets `_2`, `_3`...
  in file order; the first keeps the plain name.
- The e-mail column is the one whose normalised header is in `EMAIL_HEADERS`; none, or more than
  one, is an error naming the headers found.
- An address is trimmed and its domain lower-cased; the local part keeps its case (except the
  RFC 2142 role names such as `Info`, which email-validator lower-cases too). The syntax check
  is email-validator's without DNS; a fast path accepts the common case (plain ASCII) without
  calling it, and accepts only addresses email-validator accepts, normalised the same way.
  An empty e-mail cell is invalid ("the e-mail cell is empty"); an entirely blank row is not
  data at all and is not counted.
- Cells are trimmed; a lead's vars are its other columns under their names, blank cells left
  out (so a template's `default` applies). A row is short-padded with blanks; extra cells
  beyond the header are ignored; trailing blank header cells are dropped by the readers.
"""

from __future__ import annotations

import itertools
import json
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

# Normalised header names taken as the e-mail column (SPEC 5 names, plus common variants).
EMAIL_HEADERS = frozenset(
    {
        "email",
        "e_mail",
        "email_address",
        "e_mail_address",
        "emailaddress",
        "mail",
        "email_adresse",  # German exports: `E-Mail-Adresse`
        "e_mail_adresse",
    }
)
MAX_REASONS = 10  # how many invalid / missing-variable rows a report names
T = TypeVar("T")


class HeaderError(ValueError):
    """The header row cannot be used: no e-mail column, or several."""


class InvalidAddress(ValueError):
    """An address failed the syntax check; the message is the reason."""


# --- headers -----------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[\W_]+")  # \W is Unicode-aware: letters of any script are kept


def normalise_header(text: str) -> str:
    """`First Name` -> `first_name`; '' when nothing usable is left."""
    return _NOT_WORD.sub("_", _CAMEL.sub("_", text.strip())).strip("_").lower()


def normalise_headers(raw: Sequence[str]) -> list[str]:
    """Every header normalised, blanks named `column_N`, repeats suffixed `_2`, `_3`..."""
    names: list[str] = []
    taken: set[str] = set()
    for position, text in enumerate(raw, start=1):
        base = normalise_header(text) or f"column_{position}"
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        names.append(name)
    return names


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a file's e-mail and variables are, and which variables the campaign needs."""

    width: int  # cells in the header row
    email_index: int
    names: tuple[str, ...]  # variable names, in file order, e-mail column excluded
    indices: tuple[int, ...]  # their cell positions
    checks: tuple[tuple[int, str], ...]  # (position in `names`, name) of required variables
    absent: tuple[str, ...]  # required variables with no column at all

    @classmethod
    def from_headers(cls, raw: Sequence[str], required: frozenset[str] = frozenset()) -> Layout:
        """Read a header row; HeaderError when the e-mail column is missing or ambiguous."""
        names = normalise_headers(raw)
        # By the header as written, not its de-duplicated name: a second `Email` column is
        # `email_2` only as a variable, and is still a second e-mail column.
        found = [i for i, text in enumerate(raw) if normalise_header(text) in EMAIL_HEADERS]
        shown = ", ".join(repr(text.strip()) for text in raw) or "none"
        if not found:
            raise HeaderError(
                "no e-mail column: the header row needs one named 'email', 'e-mail' or "
                f"'Email Address' (any case); headers found: {shown}"
            )
        if len(found) > 1:
            several = ", ".join(repr(raw[i].strip()) for i in found)
            raise HeaderError(f"several e-mail columns ({several}); keep exactly one")
        email_index = found[0]
        indices = tuple(i for i in range(len(names)) if i != email_index)
        var_names = tuple(names[i] for i in indices)
        position = {name: k for k, name in enumerate(var_names)}
        checks = tuple((position[name], name) for name in sorted(required) if name in position)
        absent = tuple(sorted(name for name in required if name not in position))
        return cls(len(names), email_index, var_names, indices, checks, absent)


# --- addresses ---------------------------------------------------------------------------

# The fast path: a dot-atom local part of RFC 5322 atext (what email-validator accepts without
# further checks) and an ASCII host name of letter/digit runs joined by single dots or hyphens,
# ending in an alphabetic TLD (so no `..`, `.-`, `-.`, `--`, and no Punycode `xn--`). Anything
# else - non-ASCII, quoting, special-use names, lengths - goes to email-validator, so its
# verdict and its words decide. tests/core/test_leads.py checks with hypothesis that this
# accepts nothing email-validator rejects, and normalises the same way.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_FAST = re.compile(
    rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9]+(?:[.-][A-Za-z0-9]+)*\.[A-Za-z]{{2,63}}"
).fullmatch
_MAX_LENGTH = 254  # email-validator's EMAIL_MAX_LENGTH
_MAX_LABEL = 63
# Read from the library, so the fast path follows its list if an upgrade changes it. A domain
# is special when it is one of these or ends in one ("." + domain covers both).
_SPECIAL_SUFFIXES = tuple(f".{d}" for d in SPECIAL_USE_DOMAIN_NAMES)
_ROLE_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_LONGEST_ROLE = max(map(len, _ROLE_NAMES))


def fast_address(text: str) -> str | None:
    """The normalised address if `text` (already trimmed) is a plain ASCII address that
    email-validator surely accepts; None means: ask email-validator."""
    if _FAST(text) is None or len(text) > _MAX_LENGTH:
        return None
    local, _, domain = text.partition("@")
    domain = domain.lower()
    if f".{domain}".endswith(_SPECIAL_SUFFIXES) or (
        len(domain) > _MAX_LABEL and max(map(len, domain.split("."))) > _MAX_LABEL
    ):
        return None
    if len(local) <= _LONGEST_ROLE and local.lower() in _ROLE_NAMES:
        local = local.lower()  # email-validator lower-cases RFC 2142 role names (`Info@`)
    return f"{local}@{domain}"


# Many addresses at once (the importer's hot path), with fast_address's exact verdicts. Most
# addresses come out of fast_address unchanged: its pattern with a lower-case domain, no role
# name and no special-use TLD. One regex run over a chunk's addresses joined by line breaks
# passes over those in C, stopping at the first other line; fast_address() decides that line,
# and the run goes on after it. Role names are found with one search over the lower-cased
# chunk; a special-use name as TLD is excluded by the pattern (the names' last labels, so a
# multi-label name would only send more addresses to fast_address). Lines of up to 64
# characters can hold neither an over-long label nor go over _MAX_LENGTH; when a chunk has a
# longer one, a look-ahead sends those lines to fast_address too.
# tests/core/test_leads.py checks with hypothesis that this equals fast_address on each text.
_SHORT = 64
_SPECIAL_TLDS = "|".join(
    sorted({re.escape(d.rpartition(".")[2]) for d in SPECIAL_USE_DOMAIN_NAMES})
)
_EXACT_LINE = (
    rf"{_ATEXT}++(?:\.{_ATEXT}++)*+@[a-z0-9]++(?:[.-][a-z0-9]++)*"
    rf"\.(?!(?:{_SPECIAL_TLDS})\n)[a-z]{{2,63}}\n"
)
_EXACT_RUN = re.compile(rf"(?:{_EXACT_LINE})*+").match
_EXACT_RUN_SHORT = re.compile(rf"(?:(?=[^\n]{{1,{_SHORT}}}\n){_EXACT_LINE})*+").match
_ROLE_LINE = re.compile(rf"\n(?:{'|'.join(sorted(map(re.escape, _ROLE_NAMES)))})@").finditer


def fast_addresses(texts: Sequence[str]) -> tuple[list[str | None], list[int]]:
    """`[fast_address(text) for text in texts]`, most of it in a few C-level passes; and the
    positions of its Nones, in order."""
    joined = "\n".join(texts) + "\n"
    if joined.count("\n") != len(texts):  # a text holds a line break: no line per text
        found = [fast_address(text) for text in texts]
        return found, positions(found, None)
    # Role-name lines (`Info@`: fast_address lower-cases them) are left to fast_address.
    lowered = "\n" + joined.lower()  # "\n" starts every line; lower() keeps the line breaks
    odd: set[int] = set()
    line = seen = 0
    for match in _ROLE_LINE(lowered):
        line += lowered.count("\n", seen, match.start())  # the lines before this one
        seen = match.start()
        odd.add(line)
    run = _EXACT_RUN if max(map(len, texts), default=0) <= _SHORT else _EXACT_RUN_SHORT
    count = joined.count
    start = index = 0
    end = len(joined)
    while True:
        matched = run(joined, start)  # `(...)*+` matches at every position, maybe empty
        stop = matched.end() if matched is not None else start
        index += count("\n", start, stop)
        if stop == end:
            break
        odd.add(index)
        index += 1
        start = joined.index("\n", stop) + 1
    found = list[str | None](texts)
    misses: list[int] = []
    for k in sorted(odd):
        found[k] = address = fast_address(texts[k])
        if address is None:
            misses.append(k)
    return found, misses


def surely_invalid(text: str) -> bool:
    """True only for a (trimmed) text email-validator surely rejects: no @-sign, or a space,
    which neither a dot-atom address nor its domain may hold (quoting and display names are
    off). For the invalid rows past the first MAX_REASONS, whose reason no report shows.
    tests/core/test_leads.py checks with hypothesis that email-validator rejects them all."""
    return "@" not in text or " " in text


def check_address(text: str) -> str:
    """email-validator's verdict (syntax only, no DNS) and normalised form of a trimmed address."""
    try:
        checked = validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_empty_local=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            strict=False,
            test_environment=False,
            globally_deliverable=True,
        )
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return checked.normalized


def normalise_address(raw: str) -> str:
    """The address trimmed, its domain lower-cased and syntax-checked; else InvalidAddress."""
    text = raw.strip()
    if not text:
        raise InvalidAddress("the e-mail cell is empty")
    return fast_address(text) or check_address(text)


# --- rows --------------------------------------------------------------------------------


def picker(indices: Sequence[int]) -> Callable[[Sequence[str]], Sequence[str]]:
    """A C-level getter of the cells at `indices`, always a sequence (itemgetter with one
    index would give the bare cell)."""
    if len(indices) == 1:
        return operator.itemgetter(slice(indices[0], indices[0] + 1))
    return operator.itemgetter(*indices) if indices else (lambda cells: ())


def row_values(layout: Layout) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """A function picking a row's variable cells, trimmed, in `layout.names` order."""
    pick = picker(layout.indices)
    width = layout.width
    strip = str.strip

    def values(cells: Sequence[str]) -> tuple[str, ...]:
        if len(cells) < width:  # missing cells are empty; extra cells are never picked
            cells = [*cells, *([""] * (width - len(cells)))]
        return tuple(map(strip, pick(cells)))

    return values


def missing_in_row(layout: Layout, values: Sequence[str]) -> tuple[str, ...]:
    """Required variables blank in this row or absent from the file, sorted."""
    blank = [name for k, name in layout.checks if not values[k]]
    if not layout.absent:
        return tuple(blank)
    return tuple(sorted([*blank, *layout.absent]))


def vars_encoder(names: Sequence[str]) -> Callable[[Sequence[str]], str]:
    """A function turning a row's values into the JSON object stored as the lead's vars.

    Blank values are left out, so a template's `default` applies. The common row (no blank,
    nothing to escape) is one `%` format; anything else goes through json.dumps.
    """
    if not names:
        return lambda values: "{}"
    keys = [json.dumps(name, ensure_ascii=False) for name in names]
    template = "{" + ",".join(f'{key.replace("%", "%%")}:"%s"' for key in keys) + "}"
    pairs = [f"{key}:" for key in keys]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def encode(values: Sequence[str]) -> str:
        joined = "".join(values)
        if '"' in joined or "\\" in joined or not joined.isprintable():
            return dumps({name: value for name, value in zip(names, values, strict=True) if value})
        if "" not in values:
            return template % tuple(values)
        return "{" + ",".join([f'{p}"{v}"' for p, v in zip(pairs, values, strict=True) if v]) + "}"

    return encode


def vars_column_encoder(
    names: Sequence[str],
) -> Callable[[Sequence[Sequence[str]], int], list[str]]:
    """vars_encoder for a chunk at once: `columns` (one per name, trimmed, `count` long) in,
    every row's vars JSON out, each equal to what vars_encoder(names) makes of that row.

    Rows with no blank value and nothing to escape (the common row) are the template's text
    with the values in between, joined in C (a `"".join` mapped over the zipped columns); the
    others go through vars_encoder one by one.
    """
    encode = vars_encoder(names)
    keys = [json.dumps(name, ensure_ascii=False) for name in names]
    # '{"a":"' v0 '","b":"' v1 '"}': vars_encoder's template around its values.
    heads = [f'{{{keys[0]}:"', *(f'",{key}:"' for key in keys[1:])] if keys else []
    tail = '"}'

    def encode_all(columns: Sequence[Sequence[str]], count: int) -> list[str]:
        if not names:
            return ["{}"] * count
        odd: set[int] = set()
        pieces: list[Iterable[str]] = []
        for head, column in zip(heads, columns, strict=True):
            if "" in column:
                odd.update(positions(column, ""))
            if _needs_escaping("".join(column)):
                odd.update(k for k, value in enumerate(column) if _needs_escaping(value))
            pieces += (itertools.repeat(head, count), column)
        pieces.append(itertools.repeat(tail, count))
        found = list(map("".join, zip(*pieces, strict=True)))
        for k in odd:
            found[k] = encode([column[k] for column in columns])
        return found

    return encode_all


# ASCII text is printable unless it holds a control character; with the quote and the
# backslash, those are the bytes bytes.translate keeps here.
_ESCAPED_BYTES = bytes([*range(0x20), 0x7F, ord('"'), ord("\\")])
_CLEAN_BYTES = bytes(sorted(set(range(256)) - set(_ESCAPED_BYTES)))


def _needs_escaping(text: str) -> bool:
    """Whether the vars template cannot take `text` as it is (vars_encoder's own test)."""
    if text.isascii():  # the common case, one C-level pass over the bytes
        return bool(text.encode("ascii").translate(None, _CLEAN_BYTES))
    return '"' in text or "\\" in text or not text.isprintable()


def positions(items: Sequence[T], value: T) -> list[int]:
    """Where `value` is in `items`: list.index in C, a Python step per hit only."""
    found: list[int] = []
    start = 0
    try:
        while True:
            start = items.index(value, start) + 1
            found.append(start - 1)
    except ValueError:
        return found


# --- the report --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one row was not imported; `row` counts as the user sees the file (header = 1)."""

    row: int
    reason: str


@dataclass(frozen=True, slots=True)
class MissingRow:
    """A row lacking variables the campaign's templates use without a default."""

    row: int
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did; every data row lands in exactly one of the counts after rows_read."""

    campaign: str
    rows_read: int  # data rows that are not entirely blank
    imported: int
    invalid: int
    invalid_rows: tuple[RowProblem, ...]  # the first MAX_REASONS, in file order
    duplicate_in_file: int
    already_in_campaign: int
    suppressed: int
    held_by_other_campaign: int
    missing_variables: int
    missing_rows: tuple[MissingRow, ...]  # the first MAX_REASONS, in file order
    absent_columns: tuple[str, ...] = ()  # required variables the file has no column for

    @property
    def skipped(self) -> int:
        """Rows read but not imported."""
        return self.rows_read - self.imported


def report_lines(report: ImportReport) -> list[str]:
    """The report as plain-text lines, for the bot and the CLI."""
    lines = [
        f"Import into campaign {report.campaign!r}",
        f"rows read: {report.rows_read}",
        f"imported: {report.imported}",
    ]
    if report.invalid:
        lines.append(f"invalid: {report.invalid}")
        lines.extend(f"  row {p.row}: {p.reason}" for p in report.invalid_rows)
        _more(lines, report.invalid, len(report.invalid_rows))
    for count, label in (
        (report.duplicate_in_file, "duplicate in file (first occurrence kept)"),
        (report.already_in_campaign, "already in the campaign"),
        (report.suppressed, "suppressed (suppression list, or bounced/complained/unsubscribed)"),
        (report.held_by_other_campaign, "skipped: another active campaign holds the address"),
    ):
        if count:
            lines.append(f"{label}: {count}")
    if report.missing_variables:
        lines.append(f"missing template variables: {report.missing_variables}")
        if report.absent_columns:
            lines.append(f"  the file has no column for: {', '.join(report.absent_columns)}")
        lines.extend(f"  row {m.row}: lacks {', '.join(m.names)}" for m in report.missing_rows)
        _more(lines, report.missing_variables, len(report.missing_rows))
    return lines


def _more(lines: list[str], total: int, shown: int) -> None:
    if total > shown:
        lines.append(f"  ... and {total - shown} more")
