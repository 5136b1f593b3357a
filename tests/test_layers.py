"""The layer rules of issue 9, checked on the imports of every module of the project."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What is walked: every package and top-level script of the project. tests/ is left out on
# purpose (tests build fakes from any layer); bench/ and demo/ are in: they go through bootstrap.
PACKAGES = (
    "bot",
    "web",
    "engine",
    "core",
    "storage",
    "mail",
    "scheduler",
    "demo",
    "config",
    "bench",
)
SCRIPTS = ("config.py", "bootstrap.py", "service.py", "main.py", "check.py", "logs.py")

# The I/O libraries a pure, synchronous core must not reach for (jinja2 and the like are fine).
IO_LIBRARIES = (
    "asyncio",
    "aiosqlite",
    "aiohttp",
    "aiogram",
    "aiosmtplib",
    "aiosmtpd",
    "apscheduler",
)


@dataclass(frozen=True)
class Rule:
    """Modules under one of `packages` must not import any of `forbidden` (or their submodules)."""

    packages: tuple[str, ...]
    forbidden: tuple[str, ...]
    why: str


RULES = (
    Rule(
        ("bot", "web"),
        ("storage", "mail"),
        "the bot and the web side reach data and mail only through engine services",
    ),
    Rule(
        ("engine",),
        ("config", "storage", "mail"),
        "the engine talks to the ports of engine/ports.py, in core types",
    ),
    Rule(
        ("core",),
        ("engine", "storage", "mail", "bot", "web", "config", "scheduler", "demo", *IO_LIBRARIES),
        "core is pure and synchronous: no other layer, no I/O library",
    ),
)

# Adapters and services meet in one place only: the composition root.
ADAPTERS = ("storage", "mail")
SERVICES = ("engine",)
COMPOSITION_ROOT = "bootstrap"


@dataclass(frozen=True)
class Import:
    """One imported module, where it is imported."""

    module: str
    line: int


@dataclass(frozen=True)
class Breach:
    """One import that breaks a rule."""

    path: str
    line: int
    module: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.module} ({self.why})"


def module_name(path: str) -> str:
    """The dotted module name of a file given relative to the root: bot/app.py -> bot.app."""
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, path: str) -> Iterator[Import]:
    """Every module `source` imports, at any depth (functions, TYPE_CHECKING blocks included)."""
    name = module_name(path)
    # A package's own __init__ is its package; a plain module's package is its parent.
    package = name if Path(path).name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                # `from ..storage import x` in engine/a.py is storage: resolve against the package.
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if node.module is None:
                # `from . import sessions` names modules, not names in a module: report each.
                for alias in node.names:
                    yield Import(f"{base}.{alias.name}" if base else alias.name, node.lineno)
            else:
                yield Import(base, node.lineno)


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `module` is one of `prefixes` or a submodule of one (config, not configparser)."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def breaches(source: str, path: str) -> list[Breach]:
    """The rule breaches of one file's source; `path` is relative to the project root."""
    name = module_name(path)
    found = list(imports(source, path))
    out: list[Breach] = []
    for rule in RULES:
        if not within(name, rule.packages):
            continue
        for imp in found:
            if within(imp.module, rule.forbidden):
                out.append(Breach(path, imp.line, imp.module, f"{name}: {rule.why}"))
    if name != COMPOSITION_ROOT:
        # What a package rule reported already is not reported again; a module of an adapter or
        # service package counts as on that side by itself.
        reported = {(b.line, b.module) for b in out}
        rest = [i for i in found if (i.line, i.module) not in reported]
        adapters = [i for i in rest if within(i.module, ADAPTERS) and not within(name, ADAPTERS)]
        services = [i for i in rest if within(i.module, SERVICES) and not within(name, SERVICES)]
        if (within(name, ADAPTERS) or adapters) and (within(name, SERVICES) or services):
            why = f"{name} imports adapters and engine services together; only bootstrap.py may"
            out += [Breach(path, i.line, i.module, why) for i in adapters + services]
    return sorted(out, key=lambda b: (b.path, b.line, b.module))


def project_files(root: Path = ROOT) -> list[Path]:
    """Every .py file the rules apply to."""
    files = [root / s for s in SCRIPTS if (root / s).is_file()]
    for package in PACKAGES:
        if (root / package).is_dir():
            files += sorted((root / package).rglob("*.py"))
    return files


def tree_breaches(root: Path = ROOT) -> list[Breach]:
    """The breaches of the whole project."""
    out: list[Breach] = []
    for file in project_files(root):
        out += breaches(file.read_text(encoding="utf-8"), file.relative_to(root).as_posix())
    return out


def test_walk_finds_the_project() -> None:
    """The walk sees the whole project, so the rules cannot pass on an empty list."""
    files = project_files()
    assert len(files) > 50, [str(f) for f in files]
    assert ROOT / "engine" / "sending.py" in files


def test_checker_reports_a_synthetic_breach() -> None:
    """Each kind of import is seen and reported with its line: the check is not vacuous."""
    source = (
        "import os\n"
        "from core.models import Lead\n"
        "import storage.repository\n"  # line 3: absolute import
        "def f() -> None:\n"
        "    from mail import smtp\n"  # line 5: inside a function
        "    from ..config.settings import Settings\n"  # line 6: relative, to config.settings
        "import configparser\n"  # not config: must not be reported
    )
    found = [(b.line, b.module) for b in breaches(source, "engine/fake.py")]
    assert found == [(3, "storage.repository"), (5, "mail"), (6, "config.settings")]
    assert str(breaches(source, "engine/fake.py")[0]).startswith(
        "engine/fake.py:3: imports storage.repository (engine.fake: the engine talks to"
    )


def test_checker_reports_adapters_and_services_together() -> None:
    """Outside bootstrap.py, a module importing engine and storage is reported; bootstrap is not."""
    source = "from engine.sending import SendingEngine\nfrom storage.db import open_db\n"
    assert [(b.line, b.module) for b in breaches(source, "demo/run.py")] == [
        (1, "engine.sending"),
        (2, "storage.db"),
    ]
    assert breaches(source, "bootstrap.py") == []
    # An adapter module reaching into the engine is the same breach.
    assert [b.module for b in breaches("import engine.ports\n", "storage/sends.py")] == [
        "engine.ports"
    ]


def test_checker_keeps_core_pure() -> None:
    """core/ may use pure libraries, not I/O ones or other layers."""
    source = "import jinja2\nimport asyncio\nfrom bot import views\n"
    assert [b.module for b in breaches(source, "core/x.py")] == ["asyncio", "bot"]


def test_layers_hold() -> None:
    """No module of the project breaks a layer rule."""
    found = tree_breaches()
    assert not found, f"{len(found)} layer breach(es):\n" + "\n".join(map(str, found))
