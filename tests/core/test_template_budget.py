"""A template can't stall the process: work and output of a render are bounded (SPEC 6.12)."""

from __future__ import annotations

import random
import time

import pytest

from core import templates
from core.templates import TemplateError, compile_step, render

BOMBS = {
    "nested-loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
    "{% endfor %}",
    "percent-width": "{{ '%999999999s' % email }}",
    "percent-star": "{{ '%*s' % (999999999, email) }}",
    "format-filter": "{{ '%999999999d'|format(1) }}",
    "format-method": "{{ '{:>999999999}'.format(email) }}",
    "format-nested-width": "{{ '{:{}}'.format(email, 999999999) }}",
    "center-filter": "{{ email|center(999999999) }}",
    "center-method": "{{ email.center(999999999) }}",
    "indent": "{{ (email ~ '\\n') * 90000 | indent(9999) }}",
    "join": "{% set s = 'x' * 99999 %}{% for i in range(100000) %}{{ [s, s]|join }}{% endfor %}",
    "join-method": "{% set s = 'x' * 99999 %}{% for i in range(99999) %}"
    "{% set t = ''.join([s, s]) %}{% endfor %}",
    "replace": "{% set s = 'x' * 99999 %}{{ s|replace('x', s) }}",
    "concat-doubling": "{% set ns = namespace(s='xx') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "plus-doubling": "{% set ns = namespace(s='xx') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "range-sum": "{% for i in range(100000) %}{% set t = range(100000)|sum %}{% endfor %}",
    "batch-fill": "{{ [1]|batch(999999999, 0)|list|length }}",
    "macro-loops": "{% macro m() %}{% for i in range(100000) %}{% endfor %}{% endmacro %}"
    "{% for i in range(100000) %}{{ m() }}{% endfor %}",
    "nested-list-doubling": "{% set ns = namespace(l=[1]) %}{% for i in range(60) %}"
    "{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l }}",
    "list-repeat-printed": "{% set s = 'x' * 99999 %}{{ [s] * 99999 }}",
    "percent-many-fields": "{% set s = 'x' * 99999 %}{{ ('%s' * 30000) % ((s,) * 30000) }}",
    "output": "{% for i in range(100000) %}{{ 'x' * 99999 }}{% endfor %}",
}


@pytest.mark.parametrize("body", BOMBS.values(), ids=BOMBS.keys())
def test_a_bomb_is_refused_quickly(body: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError, match=r"^body: "):
        step = compile_step("Hi", body, None)
        render(step, {"email": "a@b.test"}, random.Random(1))
    assert time.perf_counter() - started < 5


def test_recursive_loops_are_refused_at_compile_time() -> None:
    with pytest.raises(TemplateError, match="body: line 1: recursive loops are not allowed"):
        compile_step("Hi", "{% for x in [1] recursive %}{{ loop([x]) }}{% endfor %}", None)


def test_ordinary_templates_render_as_before() -> None:
    body = (
        "{% for item in items.split(',') %}- {{ item|trim|title }}\n{% endfor %}"
        "{{ '%-8s|' % name }}{{ '{:>6}'.format(name) }} {{ name|center(10) }}"
        "{{ [name, company]|join(', ') }} {{ name ~ '!' }} {{ (name + '?')|replace('?', '.') }}"
        "{{ range(3)|sum }}"
    )
    step = compile_step("Hi {{ name }}", body, "<p>{{ company|upper }}</p>")
    out = render(step, {"name": "Ann", "company": "Acme", "items": "a, b"}, random.Random(1))
    assert out.text == "- A\n- B\nAnn     |   Ann    Ann    Ann, Acme Ann! Ann.3"
    assert out.html == "<p>ACME</p>"


def test_a_trial_render_finds_a_template_that_fails_for_every_lead() -> None:
    with pytest.raises(TemplateError, match=r"^body: "):
        templates.trial_render(compile_step("Hi", BOMBS["nested-loops"], None))
    templates.trial_render(compile_step("Hi {{ first_name }}", "{{ company|upper }}", None))
