"""Render a campaign step for a lead (SPEC 6.12): spintax `{a|b}` plus sandboxed Jinja2.

Spintax is read from the template text before Jinja sees it and each group becomes a
`{% with %}`/`{% if %}` branch that picks one option per message from the caller's
`random.Random`. So every option is syntax-checked at compile time, every variable of every
option counts in `required_variables`, lead values are never spun (they only exist after
rendering), and line numbers in Jinja errors stay those of the source.
"""

from __future__ import annotations

import functools
import random
import re
import string
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import jinja2
import markupsafe
from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.visitor import NodeTransformer

from core.message import header_safe


class TemplateError(ValueError):
    """A step's template cannot be compiled or rendered; the message names the part."""


class MissingVariableError(TemplateError):
    """The lead lacks variables the template uses without a default."""

    def __init__(self, part: str, names: frozenset[str]) -> None:
        super().__init__(f"{part}: lead lacks variable(s) {', '.join(sorted(names))}")
        self.part = part
        self.names = names


# The sending mailbox's own values, given to every render (issue 14). The `sender_` prefix is
# theirs: a lead column of the same name is shadowed, and any other `sender_` name is a typo.
SENDER_PREFIX = "sender_"
SENDER_VARIABLES = frozenset({"sender_name", "sender_first_name", "sender_email", "sender_domain"})
# Always there: the importer cannot take a lead without its address, and the mailbox's values
# come with every render.
ALWAYS_AVAILABLE = frozenset({"email"}) | SENDER_VARIABLES
_PICK = "_spintax"  # the context name of the option picker; never a lead column
_OPTIONAL_FILTERS = frozenset({"default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined"})
_MAX_REPEAT = 100_000  # longest string or list `*` may build
_MAX_EXPONENT = 1_000
MAX_SPIN_DEPTH = 32  # keeps the recursive reader far from Python's recursion limit


# The work one render may do, in units: a character a string operation builds costs 1, a loop
# iteration or a call LOOP_COST (a Python-level step costs ~100 times a character copy). Real
# templates use a few thousand; the cap stops a loop or string bomb within a fraction of a
# second, so one campaign's template can never stall the event loop that sends for the others.
RENDER_BUDGET = 20_000_000
LOOP_COST = 100
_ITEM_COST = 25  # an element printed or walked: a Python-level step, though a cheap one
MAX_OUTPUT = 2_000_000  # characters one rendered part may have
_MAX_WIDTH = 10_000  # widest padding, indent or format width a template may ask for
_WIDTH = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_SPEC_WIDTH = re.compile(r"\d+")


class BudgetError(SecurityError):
    """A render went over its budget of work or output."""


_BUDGET: ContextVar[list[int] | None] = ContextVar("template_budget", default=None)


def _spend(units: int) -> None:
    """Take `units` from the running render's budget; outside a render nothing may run."""
    left = _BUDGET.get()
    if left is None:
        # At compile time Jinja folds constants by calling filters: refuse, so nothing costly
        # runs before a budget is in place (Jinja then leaves it to render time).
        raise BudgetError("not inside a render")
    left[0] -= units
    if left[0] < 0:
        raise BudgetError(
            "the template does too much work (a loop or string too large); simplify it"
        )


def _size(value: Any) -> int:
    """What printing `value` would cost: characters and elements, nested ones included.

    Walked, not guessed, and never past what the budget has left: `[x, x]` nested sixty deep
    prints 2**60 times x, and building it must cost what printing it would.
    """
    budget = _BUDGET.get()
    limit = budget[0] if budget is not None else 0
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        total += _ITEM_COST
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        if total > limit:
            _spend(total)  # over: this raises
    return total


def _check_width(width: Any) -> None:
    if isinstance(width, int) and abs(width) > _MAX_WIDTH:
        raise BudgetError(f"width {width} is too large (at most {_MAX_WIDTH})")


def _check_percent(fmt: str, values: Any = ()) -> None:
    """Refuse `'%999999999s' % x` and `'%*s'`, and pay for the rest, before Python builds it."""
    fields = 0
    for found in _WIDTH.finditer(fmt):
        fields += 1
        for part in found.groups():
            if part == "*":
                raise BudgetError("a '*' width in %-formatting is not allowed")
            if part is not None:
                _check_width(int(part))
    _spend(fields * _size(values))  # each field may print any of the values


def _check_format_spec(fmt: str, values: Any = ()) -> None:
    """Refuse `'{:>999999999}'.format(x)` and `'{:{}}'`, and pay for the rest, before it runs."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format refuses it too, when it runs
    for _, _, spec, _ in fields:
        if spec and "{" in spec:
            raise BudgetError("a width taken from an argument is not allowed in format()")
        for number in _SPEC_WIDTH.findall(spec or ""):
            _check_width(int(number))
    _spend(len(fields) * _size(values))


def _check_call(name: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a call whose result would be out of proportion to what it is given."""
    if name in {"center", "ljust", "rjust", "zfill", "indent", "expandtabs", "wordwrap"}:
        for arg in (*args, *kwargs.values()):
            _check_width(arg)
        width = args[0] if args else kwargs.get("width", kwargs.get("tabsize", 0))
        if isinstance(target, str) and name in {"indent", "expandtabs"}:
            # The padding is added per line (per tab): paid for before it is built.
            pad = len(width) if isinstance(width, str) else abs(int(width or 0))
            _spend(pad * (target.count("\n" if name == "indent" else "\t") + 1))
    elif name in {"format", "format_map"} and isinstance(target, str):
        _check_percent(target, (args, kwargs))  # the `format` filter is %-formatting
        _check_format_spec(target, (args, kwargs))
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(target, str) and isinstance(old, str) and isinstance(new, str):
            count = target.count(old) if old else len(target) + 1
            _spend(count * len(new))
    elif name in {"batch", "slice"}:
        for arg in args[:1]:
            _check_width(arg)
    elif name == "join":  # target: the items; args[0] (or d=): the separator
        items = target if isinstance(target, str | list | tuple) else ()
        sep = args[0] if args else kwargs.get("d", "")
        _spend(_size(items) + len(items) * (len(sep) if isinstance(sep, str) else 0))


def _budgeted_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A stock filter that takes its cost from the render's budget."""
    passes = getattr(func, "jinja_pass_arg", None)

    def run(*args: Any, **kwargs: Any) -> Any:
        _spend(LOOP_COST)
        first = 0 if passes is None else 1
        value, rest = args[first], args[first + 1 :]
        if name == "join" and not isinstance(value, str | list | tuple):
            value = list(value)  # to know its size before joining (and join that list)
            args = (*args[:first], value, *rest)
        _check_call(name, value, rest, kwargs)
        result = func(*args, **kwargs)
        _spend(_size(result))
        return result

    if passes is not None:
        run.jinja_pass_arg = passes  # type: ignore[attr-defined]
    return run


def _loop(iterable: Any) -> Iterator[Any]:
    """A for loop's items, each taken from the render's budget."""
    _spend(LOOP_COST)  # now, not when first iterated: no loop is folded at compile time
    return _paid(iterable)


def _paid(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _spend(LOOP_COST)
        yield item


def _range(*args: int) -> range:
    """`range` that pays for its length up front (sum, join and the like iterate it in C)."""
    made = safe_range(*args)
    _spend(2 * len(made))
    return made


def _built(value: Any) -> Any:
    """A `~` concatenation's result, paid for by its length."""
    _spend(_size(value))
    return value


class _Sandbox(ImmutableSandboxedEnvironment):
    """The stock immutable sandbox, plus a budget of work and output for every render.

    Calls, operators, filters and loop iterations each take their cost from the budget, and
    calls that could build a string far larger than their input (padding, %-formatting,
    replace, join, repetition) are refused or paid for before they run.
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _budgeted_filter(name, f) for name, f in self.filters.items()}
        self.filters["_loop"] = _loop
        self.filters["_built"] = _built
        self.globals["range"] = _range
        self.globals.pop("lipsum", None)  # lipsum(10**9): text out of nothing

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse `'x' * 10**9`, `9 ** 10**9` and `'%999999999s' % x`; pay for the rest."""
        _spend(1)
        if operator == "**" and isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int):
                    if len(seq) * count > _MAX_REPEAT:
                        raise SecurityError("repetition result is too long")
                    _spend(_size(seq) * max(count, 0))
        if operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        if operator == "+":
            _spend(_size(left) + _size(right))
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Pay for every call, and for what a string method builds."""
        _spend(LOOP_COST)
        name = getattr(__obj, "__name__", "")
        # The sandbox hands out str.format wrapped; the string is the wrapped method's self.
        target = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(target, str) and name == "join" and args:
            # sep.join(items): the same cost as the filter's items|join(sep)
            items = args[0] if isinstance(args[0], str | list | tuple) else list(args[0])
            args = (items, *args[1:])
            _check_call("join", items, (target,), {})
        elif isinstance(target, str):
            _check_call(name, target, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _spend(_size(result))
        return result


class _Budgeted(NodeTransformer):
    """Routes every for loop's items and every `~` result through the budget filters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        """Loop items are paid for one by one; a recursive loop is refused."""
        if node.recursive:
            raise TemplateError(f"line {node.lineno}: recursive loops are not allowed")
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_loop", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        """A `~` chain is paid for by the length it builds."""
        self.generic_visit(node)
        return nodes.Filter(node, "_built", [], [], None, None, lineno=node.lineno)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        """A list literal is paid for by what it holds (`[x, x]` prints x twice)."""
        self.generic_visit(node)
        return nodes.Filter(node, "_built", [], [], None, None, lineno=node.lineno)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        """A tuple literal like a list; a tuple assigned to (`for a, b in ...`) stays as it is."""
        if node.ctx != "load":
            return node
        return self.visit_List(node)  # type: ignore[arg-type]

    visit_Dict = visit_List


_TEXT_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False)
_HTML_ENV = _Sandbox(undefined=StrictUndefined, autoescape=True)  # lead values are escaped


# --- spintax ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Spin:
    """One `{a|b|c}` group: its options, each a sequence of text and nested groups."""

    options: tuple[tuple[_Node, ...], ...]


_Node = str | _Spin

_JINJA_CLOSE = {"{{": "}}", "{%": "%}", "{#": "#}"}
_RAW_OPEN = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
_RAW_CLOSE = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_STRING = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""", re.DOTALL)
_UNDEFINED_NAME = re.compile(r"'(\w+)' is undefined")


def _jinja_end(text: str, start: int) -> int:
    """Index just after the Jinja block opening at `start` (the end of text if unclosed)."""
    opener = text[start : start + 2]
    closer = _JINJA_CLOSE[opener]
    raw = _RAW_OPEN.match(text, start)
    if raw:  # its content is literal text, spintax-looking or not
        end = _RAW_CLOSE.search(text, raw.end())
        return end.end() if end else len(text)
    if opener == "{#":
        end_at = text.find(closer, start + 2)
        return end_at + 2 if end_at >= 0 else len(text)
    # Like Jinja's lexer: skip string literals, and a `}}` inside {...} in an expression
    # (a dict literal) does not end the block.
    depth = 0
    i = start + 2
    while i < len(text):
        if depth == 0 and text.startswith(closer, i):
            return i + 2
        char = text[i]
        if char in "'\"":
            literal = _STRING.match(text, i)
            if literal:
                i = literal.end()
                continue
        elif char in "([{":
            depth += 1
        elif char in ")]}" and depth:
            depth -= 1
        i += 1
    return len(text)


class _SpinReader:
    """Splits template text into literal text and spin groups; each group is read once."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Start of a `{` -> its group (nodes, index after it), or None when it never closes.
        self.groups: dict[int, tuple[list[_Node], int] | None] = {}

    def read(self) -> tuple[_Node, ...]:
        """The whole text as nodes."""
        parsed = self._sequence(0, depth=0)
        return _merge(parsed[0][0]) if parsed else ()

    def _sequence(self, i: int, depth: int) -> tuple[list[list[_Node]], int] | None:
        """Nodes from `i` to the end of text, or (in a group) to its `}`; None if unclosed."""
        text = self.text
        in_group = depth > 0
        options: list[list[_Node]] = [[]]
        while i < len(text):
            char = text[i]
            if char == "{" and text[i + 1 : i + 2] in ("{", "%", "#"):
                # `{{{ name }}|friend}` is a spin group whose first option is a Jinja variable.
                if text.startswith("{{{", i) and (group := self._group(i, depth)) is not None:
                    options[-1].extend(group[0])
                    i = group[1]
                    continue
                end = _jinja_end(text, i)
                options[-1].append(text[i:end])
                i = end
                continue
            if char == "{":
                group = self._group(i, depth)
                if group is None:
                    # Nothing closes it before the end of text, so nothing closes this
                    # enclosing group either: the same scan would run from here on.
                    if in_group:
                        return None
                    options[-1].append("{")  # a literal brace
                    i += 1
                    continue
                options[-1].extend(group[0])
                i = group[1]
                continue
            if in_group and char == "|":
                options.append([])
            elif in_group and char == "}":
                return options, i + 1
            else:
                options[-1].append(char)
            i += 1
        return None if in_group else (options, i)

    def _group(self, start: int, depth: int) -> tuple[list[_Node], int] | None:
        """The `{...}` at `start`: a spin group if it holds a top-level `|`, else literal."""
        if depth >= MAX_SPIN_DEPTH:
            raise TemplateError(
                f"more than {MAX_SPIN_DEPTH} '{{' open at once: close them or nest spintax less"
            )
        if start not in self.groups:
            parsed = self._sequence(start + 1, depth + 1)
            if parsed is None:
                self.groups[start] = None
            elif len(parsed[0]) == 1:
                self.groups[start] = (["{", *parsed[0][0], "}"], parsed[1])
            else:
                spin = _Spin(tuple(_merge(option) for option in parsed[0]))
                self.groups[start] = ([spin], parsed[1])
        return self.groups[start]


def _merge(seq: list[_Node]) -> tuple[_Node, ...]:
    """Join adjacent text pieces."""
    merged: list[_Node] = []
    for node in seq:
        if isinstance(node, str) and merged and isinstance(merged[-1], str):
            merged[-1] += node
        elif node != "":
            merged.append(node)
    return tuple(merged)


def _read_spintax(text: str) -> tuple[_Node, ...]:
    return _SpinReader(text).read()


def _to_jinja(seq: tuple[_Node, ...]) -> str:
    # No newline is ever added, so Jinja's line numbers are those of the source.
    out: list[str] = []
    for node in seq:
        if isinstance(node, str):
            out.append(node)
            continue
        out.append(f"{{% with _spin = {_PICK}({len(node.options)}) %}}")
        for index, option in enumerate(node.options):
            out.append(f"{{% {'if' if index == 0 else 'elif'} _spin == {index} %}}")
            out.append(_to_jinja(option))
        out.append("{% endif %}{% endwith %}")
    return "".join(out)


def _spin_text(seq: tuple[_Node, ...], rng: random.Random) -> str:
    out: list[str] = []
    for node in seq:
        if isinstance(node, str):
            out.append(node)
        else:
            out.append(_spin_text(node.options[rng.randrange(len(node.options))], rng))
    return "".join(out)


def spin(text: str, rng: random.Random) -> str:
    """Pick one option of every spintax group in plain text; Jinja blocks are left as they are."""
    return _spin_text(_spun_nodes(text), rng)


# The warm-up loop spins the same few dozen corpus texts for every mail it writes and answers:
# reading each once instead of every time was ~4 % of the demo's CPU (3 parses a mail). The
# nodes are immutable; a bound keeps an unusual caller's many texts from piling up.
@functools.lru_cache(maxsize=512)
def _spun_nodes(text: str) -> tuple[_Node, ...]:
    return _read_spintax(text)


# --- compile ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Var:
    """A bare `{{ name }}` in a template that needs nothing else of Jinja."""

    name: str


@dataclass(frozen=True, slots=True)
class _FastSpin:
    """A spin group whose options are all plain text and bare variables."""

    options: tuple[tuple[_Fast, ...], ...]


_Fast = str | _Var | _FastSpin

# Most campaign templates are text, spintax and `{{ name }}` only. Those are rendered here
# directly, giving exactly what Jinja gives (same text, same random draws: see the hypothesis
# test in tests/core/test_templates.py) at a fraction of the cost of a Jinja render.
_BARE_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NOT_VARIABLES = frozenset({"true", "false", "none", "True", "False", "None"})
_NEWLINE = re.compile(r"\r\n|\r|\n")


def _fast_nodes(seq: tuple[_Node, ...], env: _Sandbox) -> tuple[_Fast, ...] | None:
    """The template as plain pieces, or None when it uses anything more of Jinja."""
    out: list[_Fast] = []
    for node in seq:
        if isinstance(node, _Spin):
            options = [_fast_nodes(option, env) for option in node.options]
            if any(option is None for option in options):
                return None
            out.append(_FastSpin(tuple(option for option in options if option is not None)))
            continue
        at = 0
        for found in [*_BARE_VAR.finditer(node), None]:
            literal = node[at : found.start() if found else len(node)]
            # Any other brace could mean a Jinja block, or lex differently next to one.
            if "{" in literal or "}" in literal:
                return None
            if literal:
                out.append(_NEWLINE.sub("\n", literal))  # Jinja's newline_sequence
            if found is None:
                break
            name = found.group(1)
            if name in _NOT_VARIABLES or name in env.globals or name.startswith("_"):
                return None
            out.append(_Var(name))
            at = found.end()
    # Jinja drops one newline at the very end of a template (keep_trailing_newline=False).
    if out and isinstance(out[-1], str) and out[-1].endswith("\n"):
        out[-1] = out[-1][:-1]
    return tuple(out)


def _fast_render(
    seq: tuple[_Fast, ...], values: Mapping[str, str], pick: random.Random, out: list[str], *,
    escape: bool, part: str,
) -> None:  # fmt: skip
    for node in seq:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Var):
            value = values.get(node.name)
            if value is None:
                raise MissingVariableError(part, frozenset({node.name}))
            out.append(str(markupsafe.escape(value)) if escape else value)
        else:
            option = node.options[pick.randrange(len(node.options))]
            _fast_render(option, values, pick, out, escape=escape, part=part)


@dataclass(frozen=True, slots=True)
class CompiledPart:
    """One compiled part of a step (subject, body or html) and the variables it needs."""

    name: str
    template: jinja2.Template
    required: frozenset[str]
    fast: tuple[_Fast, ...] | None = None  # the same template without Jinja, when it can be
    escape: bool = False  # HTML: lead values are escaped


@dataclass(frozen=True, slots=True)
class CompiledStep:
    """A step ready to render for any lead."""

    subject: CompiledPart | None
    body: CompiledPart
    html: CompiledPart | None

    def parts(self) -> Iterator[CompiledPart]:
        """The parts present, in the order subject, body, html."""
        yield from (p for p in (self.subject, self.body, self.html) if p is not None)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A step rendered for one lead: the subject is header-safe."""

    subject: str | None
    text: str
    html: str | None


def _walk_names(
    node: nodes.Node, parent: nodes.Node | None, bare: set[str], guarded: set[str]
) -> None:
    if isinstance(node, nodes.Name) and node.ctx == "load":
        if isinstance(parent, nodes.Test) and parent.node is node and parent.name in _GUARD_TESTS:
            guarded.add(node.name)
        elif not (
            isinstance(parent, nodes.Filter)
            and parent.node is node
            and parent.name in _OPTIONAL_FILTERS
        ):
            bare.add(node.name)
    for child in node.iter_child_nodes():
        _walk_names(child, node, bare, guarded)


def _required(ast: nodes.Template, env: _Sandbox) -> frozenset[str]:
    """Context variables used bare (no `default`), minus those guarded by `is defined`."""
    bare: set[str] = set()
    guarded: set[str] = set()
    _walk_names(ast, None, bare, guarded)
    undeclared = find_undeclared_variables(ast) - env.globals.keys()  # range, dict, ...
    return frozenset((undeclared & bare) - guarded - ALWAYS_AVAILABLE - {_PICK})


def _compile_part(name: str, source: str, env: _Sandbox) -> CompiledPart:
    try:
        pieces = _read_spintax(source)
    except TemplateError as exc:
        raise TemplateError(f"{name}: {exc}") from None
    translated = _to_jinja(pieces)
    try:
        ast = env.parse(translated)
        required = _required(ast, env)  # before the budget filters join the tree
        budgeted = _Budgeted().visit(ast)
        assert isinstance(budgeted, nodes.Template)
        template = env.from_string(budgeted)
    except RecursionError:
        raise TemplateError(f"{name}: blocks are nested too deeply") from None
    except jinja2.TemplateSyntaxError as exc:
        hint = ""
        if translated != source and re.search(r"endwith|_spin", exc.message or ""):
            hint = " (a {a|b} option must not open or close a Jinja block on its own)"
        raise TemplateError(f"{name}: line {exc.lineno}: {exc.message}{hint}") from None
    except TemplateError as exc:
        raise TemplateError(f"{name}: {exc}") from None
    fast = _fast_nodes(pieces, env)
    return CompiledPart(name, template, required, fast, env.autoescape is True)


def compile_step(subject: str | None, body: str, html: str | None) -> CompiledStep:
    """Compile a step's templates; TemplateError names the part and line of a syntax error."""
    return CompiledStep(
        subject=None if subject is None else _compile_part("subject", subject, _TEXT_ENV),
        body=_compile_part("body", body, _TEXT_ENV),
        html=None if html is None else _compile_part("html", html, _HTML_ENV),
    )


def required_variables(step: CompiledStep) -> frozenset[str]:
    """Variables some part uses without a default (`email` is always there)."""
    return frozenset().union(*(part.required for part in step.parts()))


def unknown_sender_variables_of(part: CompiledPart) -> frozenset[str]:
    """`sender_` names a part uses that no sender variable provides (a typo, mostly)."""
    return frozenset(n for n in part.required if n.startswith(SENDER_PREFIX))


def unknown_sender_variables(step: CompiledStep) -> frozenset[str]:
    """`sender_` names the step's templates use that no sender variable provides."""
    return frozenset().union(*(unknown_sender_variables_of(p) for p in step.parts()))


def sender_variables(display_name: str, address: str) -> dict[str, str]:
    """The mailbox's template variables; a mailbox without a display name uses its local part."""
    local, _, domain = address.rpartition("@")
    # Never blank: a blank value counts as missing, and every lead would fail for it.
    name = " ".join(display_name.split()) or local
    return {
        "sender_name": name,
        "sender_first_name": name.split(" ", 1)[0],
        "sender_email": address,
        "sender_domain": domain,
    }


def _present(variables: Mapping[str, str]) -> dict[str, str]:
    # A blank cell is a hole: dropping it lets `default` apply, or the lead be reported.
    return {key: value for key, value in variables.items() if value.strip()}


def missing_variables(step: CompiledStep, variables: Mapping[str, str]) -> frozenset[str]:
    """Required variables the lead lacks or has blank; the importer reports these (SPEC 5)."""
    return required_variables(step) - _present(variables).keys() - ALWAYS_AVAILABLE


def _template_line(trace: TracebackType | None) -> int | None:
    # Jinja rewrites tracebacks so a template frame carries the template's line number.
    line = None
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def _render_part(part: CompiledPart, variables: dict[str, str], rng: random.Random) -> str:
    missing = part.required - variables.keys() - ALWAYS_AVAILABLE
    if missing:
        raise MissingVariableError(part.name, missing)
    if part.fast is not None:
        out: list[str] = []
        _fast_render(part.fast, variables, rng, out, escape=part.escape, part=part.name)
        return "".join(out)
    token = _BUDGET.set([RENDER_BUDGET])
    try:
        return _bounded_render(part.template, {**variables, _PICK: rng.randrange})
    except jinja2.UndefinedError as exc:
        found = _UNDEFINED_NAME.fullmatch(exc.message or "")
        if found and found.group(1) not in variables:
            raise MissingVariableError(part.name, frozenset({found.group(1)})) from None
        where = _template_line(exc.__traceback__)
        at = f"line {where}: " if where else ""
        raise TemplateError(f"{part.name}: {at}{exc.message}") from None
    except Exception as exc:  # a template may raise anything (1/0, a sandbox refusal...)
        where = _template_line(exc.__traceback__)
        at = f"line {where}: " if where else ""
        raise TemplateError(f"{part.name}: {at}{type(exc).__name__}: {exc}") from None
    finally:
        _BUDGET.reset(token)


def _bounded_render(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render chunk by chunk, stopping once the output passes MAX_OUTPUT characters."""
    out: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise BudgetError(f"the rendered text is longer than {MAX_OUTPUT:,} characters")
        out.append(chunk)
    return "".join(out)


def render_subject(
    step: CompiledStep, variables: Mapping[str, str], rng: random.Random
) -> str | None:
    """The subject alone: what render() gives with the same `rng`."""
    if step.subject is None:
        return None
    return header_safe(_render_part(step.subject, _present(variables), rng))


def render_content(
    step: CompiledStep, variables: Mapping[str, str], rng: random.Random
) -> tuple[str, str | None]:
    """Text and HTML alone, for a caller that takes the subject from elsewhere."""
    values = _present(variables)
    # Text and HTML draw from one seed: alternatives whose spintax mirrors each other read the
    # same.
    seed = rng.getrandbits(64)
    text = _render_part(step.body, values, random.Random(seed))
    html = None
    if step.html is not None:
        html = _render_part(step.html, values, random.Random(seed))
    return text, html


def render(step: CompiledStep, variables: Mapping[str, str], rng: random.Random) -> Rendered:
    """Render a step for one lead; TemplateError (MissingVariableError) instead of a hole."""
    values = _present(variables)
    # The subject first, so that render_subject() with the same rng gives the same words.
    subject = render_subject(step, values, rng)
    text, html = render_content(step, values, rng)
    return Rendered(subject, text, html)


SAMPLE_VALUE = "Sample"  # what every lead variable holds in a trial render
SAMPLE_EMAIL = "lead@example.com"
SAMPLE_SENDER = sender_variables("Sample Sender", "sender@example.com")


def trial_render(step: CompiledStep) -> None:
    """Render `step` once for a made-up lead, as `check` and an upload do before any send.

    A template that fails for every lead (a runtime error, a render over its budget) raises
    TemplateError here, placed in the config, instead of stopping its campaign later.
    """
    values = dict.fromkeys(required_variables(step), SAMPLE_VALUE)
    try:
        render(step, {**values, "email": SAMPLE_EMAIL, **SAMPLE_SENDER}, random.Random(0))
    except MissingVariableError:
        return  # a variable only some leads have: the importer reports those leads
