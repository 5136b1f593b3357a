"""new_text: quoted history and signatures cut in the clients' real layouts (SPEC 12)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.quotes import html_to_text, new_text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Gmail, the attribution wrapped over two lines
        (
            "Sounds good.\n\nOn Mon, Feb 3, 2025 at 9:02\u202fAM Anna Schmidt "
            "<anna@acme-mail.com>\nwrote:\n\n> Hi Jonas,\n> just bumping this up\n",
            "Sounds good.",
        ),
        # Thunderbird / Gmail on one line
        ("Yes.\nOn 2/3/25 9:02 AM, Anna wrote:\n> Hi\n", "Yes."),
        # Apple Mail (macOS), attribution not quoted
        (
            "Call me.\n\nOn Feb 5, 2025, at 10:14, Anna Schmidt <anna@acme-mail.com> wrote:\n\n"
            "> Hi Tom,\n",
            "Call me.",
        ),
        # iPhone: signature line, then the attribution inside the quote
        (
            "Not now.\n\nSent from my iPhone\n\n"
            "> On Feb 5, 2025, at 10:14, A <a@b.c> wrote:\n>\n> Hi",
            "Not now.",
        ),
        # German Gmail
        (
            "Gerne.\n\nAm Mo., 3. Feb. 2025 um 14:05 Uhr schrieb Anna Schmidt <\n"
            "anna@acme-mail.com>:\n\n> Hallo\n",
            "Gerne.",
        ),
        # German Thunderbird
        ("Ja.\n\nAm 03.02.25 um 14:05 schrieb Anna Schmidt:\n> Hallo\n", "Ja."),
        # French, Spanish
        (
            "Oui.\n\nLe lun. 3 févr. 2025 à 14:05, Anna Schmidt <anna@acme-mail.com> a écrit :\n"
            "> Bonjour\n",
            "Oui.",
        ),
        (
            "Sí.\n\nEl lun, 3 feb 2025 a las 14:05, Anna Schmidt (<anna@acme-mail.com>) "
            "escribió:\n> Hola\n",
            "Sí.",
        ),
        # Outlook desktop / OWA: underscores, then the header block, history not quoted
        (
            "Interested.\n\n________________________________\nFrom: Anna <anna@acme-mail.com>\n"
            "Sent: Monday, February 3, 2025 9:02 AM\nTo: Sarah\nSubject: Hi\n\nHi Sarah,\n",
            "Interested.",
        ),
        # Outlook without the underscores (Outlook for Mac: From/Date)
        (
            "Interested.\n\nFrom: Anna <anna@acme-mail.com>\nDate: Monday, 3 February 2025\n"
            "To: Sarah\nSubject: Hi\n\nHi Sarah,\n",
            "Interested.",
        ),
        # German and French Outlook header blocks
        (
            "Passt.\n\nVon: Anna <anna@acme-mail.com>\nGesendet: Montag, 3. Februar 2025 09:02\n"
            "An: Klaus\nBetreff: Hallo\n\nHallo Klaus,\n",
            "Passt.",
        ),
        (
            "D'accord.\n\nDe : Anna <anna@acme-mail.com>\nEnvoyé : lundi 3 février 2025 09:02\n"
            "À : Claire\nObjet : Bonjour\n\nBonjour Claire,\n",
            "D'accord.",
        ),
        # "-----Original Message-----" and its German form
        ("OK.\n-----Original Message-----\nFrom: Anna\nHi\n", "OK."),
        ("OK.\n-----Ursprüngliche Nachricht-----\nVon: Anna\nHallo\n", "OK."),
        # signature delimiter, with and without its trailing space
        ("Thanks!\n-- \nJohn Doe\nCEO\n", "Thanks!"),
        ("Thanks!\n--\nJohn Doe\n", "Thanks!"),
        # interleaved answers under an attribution keep the answers
        (
            "On Mon, Feb 3, 2025 at 9:02 AM Anna <anna@acme-mail.com> wrote:\n"
            "> Do you ship from Hamburg?\nYes, daily.\n> Pallets?\nUp to 40.\n",
            "Yes, daily.\nUp to 40.",
        ),
        # no history at all: the text as it is, blank runs collapsed
        ("Line one.\n\n\n\nLine two.  \n", "Line one.\n\nLine two."),
        ("", ""),
    ],
)
def test_new_text(body: str, expected: str) -> None:
    assert new_text(body) == expected


def test_html_gmail_quote_is_cut() -> None:
    markup = (
        '<div dir="ltr">Sounds good.<div><br></div><div>Jonas</div></div><br>'
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, Anna wrote:<br></div>'
        "<blockquote>Hi Jonas, do you still ship?</blockquote></div>"
    )
    assert new_text(markup) == "Sounds good.\n\nJonas"


def test_html_outlook_reply_header_is_cut() -> None:
    markup = (
        "<html><head><style>P {margin:0}</style></head><body><div>Please take me off.</div>"
        '<div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Anna</div>'
        "<div>Hi Lee</div></body></html>"
    )
    assert new_text(markup) == "Please take me off."


def test_html_to_text_drops_styles_and_unescapes() -> None:
    assert html_to_text("<style>p{}</style><p>A &amp; B&nbsp;C</p>").strip() == "A & B C"


# --- hypothesis: quoted history never survives --------------------------------------------

# The new text is written in lower case, the history is marked with upper-case tokens: a
# token in the result means history leaked.
NEW_LINES = st.lists(
    st.text(alphabet="abcdefghij klmnop.,!?'", min_size=0, max_size=40), min_size=0, max_size=6
)
QUOTED_LINES = st.lists(
    st.text(alphabet="abcdefghij klmnop.,", max_size=30).map(lambda s: f"QUOTED {s}"),
    min_size=1,
    max_size=8,
)
STYLES = st.sampled_from(
    [
        "gmail",
        "gmail_wrapped",
        "apple",
        "german",
        "french",
        "outlook",
        "original_message",
        "bare",
        "nested",
    ]
)


def _history(style: str, quoted: list[str]) -> list[str]:
    prefixed = [f"> {line}" for line in quoted]
    layouts = {
        "gmail": ["On Mon, Feb 3, 2025 at 9:02 AM Anna <anna@acme-mail.com> wrote:", "", *prefixed],
        "gmail_wrapped": [
            "On Mon, Feb 3, 2025 at 9:02 AM Anna Schmidt <",
            "anna@acme-mail.com> wrote:",
            "",
            *prefixed,
        ],
        "apple": ["> On Feb 5, 2025, at 10:14, Anna <anna@acme-mail.com> wrote:", ">", *prefixed],
        "german": ["Am 03.02.2025 um 14:05 schrieb Anna <anna@acme-mail.com>:", *prefixed],
        "french": ["Le lun. 3 févr. 2025 à 14:05, Anna a écrit :", *prefixed],
        "outlook": ["_" * 32, "From: Anna <anna@acme-mail.com>", "Sent: Monday", "", *quoted],
        "original_message": ["-----Original Message-----", *quoted],
        "nested": [f">> {line}" for line in quoted] + [f" > {line}" for line in quoted],
        "bare": prefixed,
    }
    return layouts[style]


@settings(max_examples=400, deadline=None)
@given(NEW_LINES, QUOTED_LINES, STYLES, st.sampled_from(["\n", "\r\n"]))
def test_quoted_history_never_in_new_text(
    new: list[str], quoted: list[str], style: str, newline: str
) -> None:
    body = newline.join([*new, "", *_history(style, quoted)])
    text = new_text(body)
    assert "QUOTED" not in text
    assert "anna@acme-mail.com" not in text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_new_text_never_raises(body: str) -> None:
    assert isinstance(new_text(body), str)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=20),
            st.sampled_from(["<div>", "</div>", "<blockquote>", "<br>", "<p", "&amp", "<style>"]),
        ),
        max_size=40,
    )
)
def test_html_never_raises(chunks: list[str]) -> None:
    assert isinstance(new_text("<html>" + "".join(chunks)), str)
