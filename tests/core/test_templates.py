"""Step templates (SPEC 6.12): spintax, sandboxed Jinja2, required variables, header safety."""

import dataclasses
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.templates import (
    MAX_SPIN_DEPTH,
    CompiledStep,
    MissingVariableError,
    TemplateError,
    compile_step,
    missing_variables,
    render,
    render_content,
    render_subject,
    required_variables,
    spin,
)

LEAD = {"email": "jane@acme.test", "first_name": "jane", "company": "Acme"}


def body(source: str, variables: dict[str, str] | None = None, seed: int = 0) -> str:
    step = compile_step(None, source, None)
    return render(step, LEAD if variables is None else variables, random.Random(seed)).text


def outcomes(source: str, seeds: int = 200) -> set[str]:
    step = compile_step(None, source, None)
    return {render(step, LEAD, random.Random(seed)).text for seed in range(seeds)}


# --- spintax -----------------------------------------------------------------------------------


def test_spintax_picks_every_option_over_seeds() -> None:
    assert outcomes("{Hi|Hello|Hey} there") == {"Hi there", "Hello there", "Hey there"}


def test_nested_spintax_reaches_every_leaf() -> None:
    assert outcomes("{Hi|Hello {there|friend}}") == {"Hi", "Hello there", "Hello friend"}


def test_same_seed_same_pick() -> None:
    source = "{a|b|c|d|e|f|g|h}{1|2|3|4|5|6|7|8}"
    assert body(source, seed=42) == body(source, seed=42)


def test_empty_options_are_allowed() -> None:
    assert outcomes("x{|!}") == {"x", "x!"}


@pytest.mark.parametrize(
    "source",
    [
        "{x}",  # no bar: literal braces
        "a { b",  # never closed
        "a } b",
        "{{ '{' }} and {{ '}' }}",
        "p { color: red }",
    ],
)
def test_braces_without_a_bar_stay_literal(source: str) -> None:
    expected = source.replace("{{ '{' }}", "{").replace("{{ '}' }}", "}")
    assert outcomes(source, seeds=5) == {expected}


def test_jinja_blocks_are_not_spun() -> None:
    source = (
        "{{ first_name | default('a|b') }} {% if company %}{{ company | upper }}{% endif %}"
        "{# {x|y} is a comment #}{% raw %}{c|d}{% endraw %}"
    )
    assert outcomes(source, seeds=20) == {"jane ACME{c|d}"}


def test_dict_literal_with_braces_inside_an_expression() -> None:
    assert outcomes("{{ {'k': {'v': 'x|y'}}['k']['v'] }}", seeds=5) == {"x|y"}


def test_spin_option_may_hold_a_jinja_variable() -> None:
    assert outcomes("{{{ first_name | title }}|friend}") == {"Jane", "friend"}
    assert outcomes("{Hi {{ first_name }}|Hello}, ok") == {"Hi jane, ok", "Hello, ok"}


def test_lead_values_are_never_spun() -> None:
    lead = {**LEAD, "company": "{Evil|Corp}"}
    assert {body("{Hi|Hi} {{ company }}", lead, seed) for seed in range(20)} == {"Hi {Evil|Corp}"}


def test_text_and_html_alternatives_pick_alike() -> None:
    step = compile_step(None, "{a|b|c|d}", "<p>{a|b|c|d}</p>")
    for seed in range(30):
        rendered = render(step, LEAD, random.Random(seed))
        assert rendered.html == f"<p>{rendered.text}</p>"


def test_spin_on_plain_text() -> None:
    picks = {spin("{Hi|Hello} {{ name }} {x}", random.Random(seed)) for seed in range(50)}
    assert picks == {"Hi {{ name }} {x}", "Hello {{ name }} {x}"}


def test_too_many_open_braces_is_a_clear_error() -> None:
    with pytest.raises(TemplateError, match=r"^body: more than"):
        compile_step(None, "{ " * (MAX_SPIN_DEPTH + 1), None)
    compile_step(None, "{ " * (MAX_SPIN_DEPTH - 1), None)


# --- Jinja ---------------------------------------------------------------------------------------


def test_defaults_and_filters() -> None:
    source = "Hi {{ first_name | default('there') | title }}, {{ city | d('somewhere') | upper }}"
    assert body(source) == "Hi Jane, SOMEWHERE"
    assert body(source, {"email": "x@y.test"}) == "Hi There, SOMEWHERE"
    assert body("[{{ company | lower | trim }}]", {**LEAD, "company": "  ACME "}) == "[acme]"


def test_missing_variable_raises_and_names_it() -> None:
    step = compile_step("{Quick question|An idea} for {{ company }}", "Hi", None)
    with pytest.raises(MissingVariableError, match="company") as caught:
        render(step, {"email": "x@y.test"}, random.Random(0))
    assert caught.value.names == frozenset({"company"})
    assert caught.value.part == "subject"
    assert isinstance(caught.value, ValueError)


def test_blank_value_counts_as_missing() -> None:
    # An empty CSV cell must not produce "Hi ," ...
    assert body("Hi {{ first_name | default('there') }},", {**LEAD, "first_name": " "}) == (
        "Hi there,"
    )
    # ... nor a hole where the template has no default.
    with pytest.raises(MissingVariableError, match="first_name"):
        body("Hi {{ first_name }},", {**LEAD, "first_name": ""})


def test_undefined_found_only_at_render_is_named_too() -> None:
    # Guarded by `is defined` in one place, so not reported as required, but used bare later.
    source = "{% if title is defined %}x{% endif %}{{ title }}"
    with pytest.raises(MissingVariableError, match="title"):
        body(source)


def test_html_part_escapes_lead_values() -> None:
    step = compile_step(None, "{{ company }}", "<p>{{ company }}</p>")
    rendered = render(step, {**LEAD, "company": "<script>x</script>"}, random.Random(0))
    assert rendered.text == "<script>x</script>"
    assert rendered.html == "<p>&lt;script&gt;x&lt;/script&gt;</p>"


def test_subject_is_header_safe() -> None:
    step = compile_step("Hi {{ company }}", "b", None)
    lead = {**LEAD, "company": "Acme\r\nBcc: victim@x.test\x00\u2028more"}
    rendered = render(step, lead, random.Random(0))
    assert rendered.subject == "Hi Acme Bcc: victim@x.test more"


def test_subject_none_for_follow_ups() -> None:
    rendered = render(compile_step(None, "bump", None), LEAD, random.Random(0))
    assert rendered.subject is None
    assert rendered.html is None


# --- required variables --------------------------------------------------------------------------


def required(subject: str | None, text: str, html: str | None = None) -> frozenset[str]:
    return required_variables(compile_step(subject, text, html))


def test_required_variables_without_default() -> None:
    assert required(
        "{Quick question|An idea} for {{ company }}",
        "Hi {{ first_name | default('there') }}, {{ city | d('x') | title }} {{ role | title }}",
        "<p>{{ website }}</p>",
    ) == {"company", "role", "website"}


def test_required_variables_inside_every_spin_option() -> None:
    assert required(None, "{Hi {{ first_name }}|Hello {{ nick }}}") == {"first_name", "nick"}


def test_required_variables_skip_email_locals_and_guarded_names() -> None:
    source = (
        "{{ email }} {% set greeting = 'hi' %}{{ greeting }}"
        "{% for part in ['a', 'b'] %}{{ part }}{% endfor %}"
        "{% if title is defined %}{{ title }}{% endif %}"
        "{% with x = 1 %}{{ x }}{% endwith %}"
        "{{ range(2) | join(',') }} {{ dict(a=1) | length }}"
    )
    assert required(None, source) == frozenset()


def test_a_default_elsewhere_does_not_cover_a_bare_use() -> None:
    assert required(None, "{{ company | default('you') }} {{ company }}") == {"company"}
    # The default must apply to the name itself: `title` on an undefined name already raises.
    assert required(None, "{{ company | title | default('you') }}") == {"company"}


def test_missing_variables_for_the_importer() -> None:
    step = compile_step("for {{ company }}", "{{ first_name }} {{ city | default('') }}", None)
    assert missing_variables(step, {"email": "a@b.test", "first_name": "A"}) == {"company"}
    assert missing_variables(step, {"first_name": " ", "company": "C"}) == {"first_name"}
    assert missing_variables(step, {"first_name": "A", "company": "C"}) == frozenset()


# --- errors and the sandbox ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "text", "html", "expected"),
    [
        ("Hi {{ company", "b", None, r"^subject: line 1: "),
        (None, "line one\nline two\n{% if x %}never closed", None, r"^body: line 3: "),
        (None, "ok", "<p>\n\n{{ x | no_such_filter }}</p>", r"^html: line 3: .*no_such_filter"),
        (None, "{% endfor %}", None, r"^body: line 1: .*endfor"),
    ],
)
def test_syntax_errors_name_part_and_line(
    subject: str | None, text: str, html: str | None, expected: str
) -> None:
    with pytest.raises(TemplateError, match=expected):
        compile_step(subject, text, html)


def test_spin_option_breaking_a_block_is_explained() -> None:
    with pytest.raises(TemplateError, match=r"^body: line 2: .*must not open or close"):
        compile_step(None, "a\n{x {% if y %}|z}", None)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ company.__init__.__globals__ }}",
        "{{ [1].append(2) }}",  # immutable sandbox: no mutating methods
        "{{ 'x' * 1000000000 }}",
        "{{ 2 ** 100000000 }}",
        "{% include 'other' %}",
        "{{ 1 / 0 }}",
    ],
)
def test_sandbox_refuses_tricks(source: str) -> None:
    step = compile_step(None, source, None)
    with pytest.raises(TemplateError, match=r"^body: "):
        render(step, LEAD, random.Random(0))


def test_runtime_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match=r"^body: line 3: ZeroDivisionError"):
        body("a\nb\n{{ 1 / 0 }}")


def test_compiled_step_parts() -> None:
    step = compile_step("s", "b", "h")
    assert isinstance(step, CompiledStep)
    assert [part.name for part in step.parts()] == ["subject", "body", "html"]


def test_subject_and_content_alone_give_what_render_gives() -> None:
    step = compile_step(
        "{Hi|Hello|Hey} {{ first_name }}", "{A|B|C} for {{ company }}", "<p>{A|B|C}</p>"
    )
    for seed in range(30):
        whole = render(step, LEAD, random.Random(seed))
        assert render_subject(step, LEAD, random.Random(seed)) == whole.subject
        rng = random.Random(seed)
        render_subject(step, LEAD, rng)  # the subject draws first, as in render()
        assert render_content(step, LEAD, rng) == (whole.text, whole.html)
    assert render_subject(compile_step(None, "x", None), LEAD, random.Random(0)) is None


# --- the fast path: plain text, spintax and bare variables without Jinja -------------------------

PIECES = st.sampled_from(
    [
        "Hi ", "there", ",", " ", "\n", "\r\n", "\r", "{", "}", "|", "{{ first_name }}",
        "{{company}}", "{{ email }}", "{{ missing }}", "{{ none }}", "{{ range }}", "<b>&",
        "'\"", "{% if company %}x{% endif %}", "{{ company | upper }}", "{#c#}", "%}", "é",
    ]
)  # fmt: skip


def _jinja_only(step: CompiledStep) -> CompiledStep:
    """The same step with the fast path switched off: every part through Jinja."""
    subject, html = step.subject, step.html
    return CompiledStep(
        subject=None if subject is None else dataclasses.replace(subject, fast=None),
        body=dataclasses.replace(step.body, fast=None),
        html=None if html is None else dataclasses.replace(html, fast=None),
    )


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except TemplateError as exc:
        return (type(exc).__name__, str(exc))


@settings(max_examples=400, deadline=None)
@given(
    source=st.lists(PIECES, max_size=14).map("".join),
    seed=st.integers(0, 2**32),
    company=st.sampled_from(["Acme", "<A&B>", 'O\'Hara "Co"', "   "]),
)
def test_fast_path_renders_exactly_what_jinja_renders(source: str, seed: int, company: str) -> None:
    try:
        step = compile_step(source, source, source)
    except TemplateError:
        return  # refused at compile time either way: nothing to render
    slow = _jinja_only(step)
    lead = {**LEAD, "company": company}
    for part in ("subject", "content"):
        if part == "subject":
            fast = _outcome(lambda: render_subject(step, lead, random.Random(seed)))
            jinja = _outcome(lambda: render_subject(slow, lead, random.Random(seed)))
        else:
            fast = _outcome(lambda: render_content(step, lead, random.Random(seed)))
            jinja = _outcome(lambda: render_content(slow, lead, random.Random(seed)))
        assert fast == jinja, (part, source)


def test_plain_templates_take_the_fast_path_and_others_do_not() -> None:
    fast = compile_step("{Hi|Hello} {{ first_name }}", "{{ company }}\r\nBye\n", "<p>{{ x }}</p>")
    assert all(part.fast is not None for part in fast.parts())
    slow = compile_step("{{ name | default('there') }}", "{% if a %}b{% endif %}", "{ {{ x }} }")
    assert all(part.fast is None for part in slow.parts())
    html = compile_step(None, "x", "<p>{{ company }}</p>")
    assert render(html, {**LEAD, "company": "<A&B>"}, random.Random(1)).html == (
        "<p>&lt;A&amp;B&gt;</p>"
    )
