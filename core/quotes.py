"""The new text of a reply: quoted history and signatures cut (SPEC 12), HTML made text."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

# Attribution lines that introduce the quoted history. Gmail and Thunderbird wrap long ones
# over two or three lines, so they are matched on a window of joined lines (see _attribution_size).
_ATTRIBUTION = re.compile(
    r"^(?:"
    r"On\s.{1,300}?\swrote\s?:"  # Gmail, Apple Mail ("On ..., at ..., X wrote:"), Thunderbird
    r"|Am\s.{1,300}?\sschrieb\s.{0,300}?:"  # German Gmail / Apple Mail / Thunderbird
    r"|.{1,200}?\sschrieb\s+am\s.{1,200}?:"  # German Outlook for Mac, older Thunderbird
    r"|Le\s.{1,300}?\sa\s+[ée]crit\s?:"  # French
    r"|El\s.{1,300}?\sescribi[óo]\s?:"  # Spanish
    r")\s*$",
    re.IGNORECASE,
)
# Separators Outlook (desktop, OWA, older Exchange) and others put above the quoted message.
_SEPARATOR = re.compile(
    r"^\s*(?:"
    r"-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original"
    r"|Forwarded message|Weitergeleitete Nachricht|Message transféré|Mensaje reenviado)\s*-{2,}"
    r"|_{10,}"  # Outlook's line of underscores above the From:/Sent: block
    r")\s*$",
    re.IGNORECASE,
)
# The header block Outlook pastes: "From:" then, within a few lines, "Sent:" or "Date:".
_HEADER_FROM = re.compile(r"^\s*\*?(?:From|Von|De|Da)\s?:\*?\s", re.IGNORECASE)
_HEADER_DATE = re.compile(
    r"^\s*\*?(?:Sent|Date|Gesendet|Datum|Envoy[ée]|Date|Enviado|Fecha|Inviato)\s?:\*?\s",
    re.IGNORECASE,
)
# The signature delimiter of RFC 3676 ("-- "), often with its space lost, and the mobile
# clients' standard signatures.
_SIGNATURE = re.compile(
    r"^(?:--\s?"
    r"|Sent from my \w+.*|Sent from (?:Outlook|Mail for Windows|Yahoo Mail).*"
    r"|Get Outlook for \w+.*"
    r"|Von meinem \w+ gesendet.*|Gesendet von meinem \w+.*"
    r"|Envoy[ée] de mon \w+.*|Enviado desde mi \w+.*"
    r")\s*$",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"^\s*>")
_ATTRIBUTION_WINDOW = 3  # Gmail wraps "On <date> <name> <\naddress> wrote:" over lines

_LOOKS_HTML = re.compile(r"<\s*(?:html|body|div|p|br|table|span|blockquote)\b", re.IGNORECASE)


def new_text(body: str) -> str:
    """The reply's own text: quoted history, attribution lines and signatures cut."""
    if _LOOKS_HTML.search(body):
        body = html_to_text(body)
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut, reason = len(lines), None
    for index in range(len(lines)):
        reason = _boundary(lines, index)
        if reason is not None:
            cut = index
            break
    kept = [line for line in lines[:cut] if not _QUOTED.match(line)]
    if reason == _ATTRIBUTED and not "".join(kept).strip():
        # An interleaved answer ("On ... wrote:" first, answers between the quotes): keep
        # every line that is neither quoted nor an attribution, up to a signature.
        kept = _interleaved(lines)
    return _tidy(kept)


_ATTRIBUTED = "attribution"  # an "On ... wrote:" line: what follows is quoted with ">"
_HISTORY = "history"  # a separator, Outlook's header block or a signature: the rest goes


def _boundary(lines: list[str], index: int) -> str | None:
    """Whether the quoted history or the signature starts at this line, and how."""
    line = lines[index]
    stripped = line.strip()
    if not stripped:
        return None
    if _SEPARATOR.match(stripped) or _SIGNATURE.match(line.rstrip()):
        return _HISTORY
    if _HEADER_FROM.match(stripped) and any(
        _HEADER_DATE.match(following.strip()) for following in lines[index + 1 : index + 4]
    ):
        return _HISTORY
    if _attribution_size(lines, index):
        return _ATTRIBUTED
    return None


def _attribution_size(lines: list[str], index: int) -> int:
    """How many lines the attribution starting at `index` spans (0: none starts there)."""
    window = ""
    for size, line in enumerate(lines[index : index + _ATTRIBUTION_WINDOW], start=1):
        if _QUOTED.match(line):
            break
        window = f"{window} {line.strip()}".strip()
        if _ATTRIBUTION.match(window):
            return size
    return 0


def _interleaved(lines: list[str]) -> list[str]:
    kept: list[str] = []
    skip = 0
    for index, line in enumerate(lines):
        if skip:
            skip -= 1
            continue
        reason = _boundary(lines, index)
        if reason == _HISTORY:
            break
        if reason == _ATTRIBUTED:
            skip = _attribution_size(lines, index) - 1
        elif not _QUOTED.match(line):
            kept.append(line)
    return kept


def _tidy(lines: list[str]) -> str:
    """Trailing spaces off, runs of blank lines collapsed to one, ends trimmed."""
    out: list[str] = []
    for raw in lines:
        line = raw.rstrip()
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip()


# Where the quoted history starts in the HTML of Gmail, Outlook (desktop, OWA, mobile),
# Apple Mail and Thunderbird: everything from there on is history.
_HISTORY_CLASSES = frozenset({"gmail_quote", "gmail_extra", "moz-cite-prefix", "yahoo_quoted"})
_HISTORY_IDS = frozenset(
    {"appendonsend", "divrplyfwdmsg", "mail-editor-reference-message-container"}
)
_SKIPPED = frozenset({"script", "style", "head", "title"})
_BLOCKS = frozenset(
    {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "pre"}
)


class _TextOfHtml(HTMLParser):
    """Collects an HTML body's text until the quoted history starts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        values = dict(attrs)
        classes = set((values.get("class") or "").lower().split())
        if (
            tag == "blockquote"
            or classes & _HISTORY_CLASSES
            or (values.get("id") or "").lower() in _HISTORY_IDS
        ):
            self.done = True
            return
        if tag in _SKIPPED:
            self.skip_depth += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self.skip_depth:
            self.skip_depth -= 1
        elif tag in _BLOCKS and not self.done:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.done and not self.skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """The visible text of an HTML body up to its quoted history; tags dropped."""
    parser = _TextOfHtml()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # HTMLParser is lenient, but a broken mail must not stop the poll
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    text = "".join(parts for parts in parser.parts).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return "\n".join(lines)
