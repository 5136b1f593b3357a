"""Run the benchmarks of two git revisions alternately in one run and compare their medians.

    .venv/bin/python bench/side_by_side.py --base REV [--head REV|worktree] [--rounds 3]
        [--only send,import,status] [--no-write]

A refactor is judged against the commit before it on the same machine at the same time: on
a shared 2-core machine the load moves more between two runs an hour apart than a refactor
should move the figures. The base revision (and the head, when it is a revision) is checked
out into a temporary `git worktree`; the head defaults to this working tree, uncommitted
changes included. Each round runs every chosen bench script once from each tree, the order
swapped every round (base, head, then head, base) so a drift in the load falls on both.

Each tree runs its own bench script on its own code with this interpreter (sys.executable);
only this glue is shared. The scripts run with --no-write and their figures are parsed from
the section they print (the first table's first row is the contender, the second row its
baseline), so no RESULTS.md is touched during the rounds. The summary, per benchmark the
median of each revision's medians, the ratio head/base and the commands, replaces the
"## Side by side" section of this tree's bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages

from bench.results import RESULTS, write_section  # noqa: E402

SECTION = "## Side by side"
WORKTREE = "worktree"


@dataclass(frozen=True)
class Bench:
    """One benchmark script and which way its headline figure improves."""

    name: str
    script: str
    higher_is_better: bool


BENCHES = {
    "send": Bench("send", "bench/bench_send.py", higher_is_better=True),
    "import": Bench("import", "bench/bench_import.py", higher_is_better=False),
    "status": Bench("status", "bench/bench_status.py", higher_is_better=False),
}


@dataclass(frozen=True)
class Figures:
    """What one run of a bench script reported: its contender's and its baseline's medians."""

    unit: str
    contender: str
    median: float
    baseline: str | None
    baseline_median: float | None


@dataclass
class Tree:
    """One side of the comparison: a label, the revision and the directory it runs from."""

    label: str
    rev: str
    commit: str
    path: Path
    runs: dict[str, list[Figures]] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)


def git(*args: str, cwd: Path = ROOT) -> str:
    """Run git in `cwd` and return its stripped output."""
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@contextmanager
def checkout(rev: str, label: str) -> Iterator[Path]:
    """A temporary detached worktree of `rev`, removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix=f"side-by-side-{label}-"))
    path = parent / "tree"
    git("worktree", "add", "--detach", "--quiet", str(path), rev)
    try:
        yield path
    finally:
        # --force: the bench runs leave untracked files (caches, a written RESULTS.md) behind.
        git("worktree", "remove", "--force", str(path))
        parent.rmdir()


def parse_figures(output: str) -> Figures:
    """The headline figures of a bench script's printed section: its first table's two rows."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        header = re.match(r"^\| *(Contender|Workload) *\| *Median ([^|]+?) *\|", line)
        if header is None:
            continue
        rows = []
        for row in lines[i + 2 :]:  # past the header and its |---| line
            if not row.startswith("|"):
                break
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            rows.append((cells[0], float(cells[1].replace(",", ""))))
        if not rows:
            break
        base = rows[1] if len(rows) > 1 else (None, None)
        return Figures(header.group(2), rows[0][0], rows[0][1], base[0], base[1])
    raise ValueError("no '| Contender | Median ... |' table in the output")


def command(tree: Tree, bench: Bench) -> list[str]:
    """The command that runs `bench` from `tree` without writing its RESULTS.md."""
    script = tree.path / bench.script
    args = [sys.executable, str(script)]
    # Every bench script since the first has --no-write; a tree without it writes only to its
    # own temporary worktree, which is removed afterwards.
    if "--no-write" in script.read_text(encoding="utf-8") or tree.path == ROOT:
        args.append("--no-write")
    return args


def run_once(tree: Tree, bench: Bench, round_no: int) -> None:
    """Run one bench script from one tree and keep its figures."""
    args = command(tree, bench)
    # Kept relative to the tree: a temporary worktree is gone when the section is written.
    tree.commands[bench.name] = shlex.join([".venv/bin/python", bench.script, *args[2:]])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # each tree its own code
    print(f"round {round_no} {bench.name} {tree.label} ({tree.commit[:10]}) ...", flush=True)
    started = time.monotonic()
    # Streamed, so a bench of minutes shows its progress; its printed section is not echoed.
    with subprocess.Popen(
        args, cwd=tree.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        output: list[str] = []
        echo = True
        for line in proc.stdout:
            echo = echo and not line.startswith("## ")
            if echo:
                print(f"    {line.rstrip()}", flush=True)
            output.append(line)
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(args)} failed with exit code {proc.returncode}")
    figures = parse_figures("".join(output))
    tree.runs.setdefault(bench.name, []).append(figures)
    print(
        f"  {figures.contender}: {fmt(figures.median, figures.unit)} {figures.unit} "
        f"({time.monotonic() - started:.0f} s)",
        flush=True,
    )


def fmt(value: float, unit: str) -> str:
    """A figure as the bench sections print it: seconds with two decimals, the rest whole."""
    return f"{value:,.2f}" if unit == "s" else f"{value:,.0f}"


def median(values: list[float]) -> float:
    """The median of `values`."""
    return statistics.median(values)


def spread(runs: list[Figures]) -> str:
    """(max - min) / median of one side's runs: a head/base ratio inside it is noise."""
    values = [f.median for f in runs]
    return f"{(max(values) - min(values)) / median(values):.0%}"


def section(
    benches: list[Bench], base: Tree, head: Tree, argv: list[str], load: tuple[float, float]
) -> str:
    """The "## Side by side" section: per benchmark each revision's median and head/base."""
    rounds = len(next(iter(base.runs.values()))) if base.runs else 0
    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Linux {platform.release()}; load average (1 min) {load[0]:.2f} at the start, "
        f"{load[1]:.2f} at the end",
        f"- Command: `{shlex.join(['.venv/bin/python', 'bench/side_by_side.py', *argv])}`",
        f"- Base: {base.rev} ({base.commit[:10]}); head: {head.rev} ({head.commit[:10]}). "
        f"{rounds} round(s), each bench script once from each tree per round, the order "
        "swapped every round; medians of the runs' medians. Spread: (max - min) / median of a "
        "side's runs; a head/base ratio within it is noise.",
        "",
        "| Benchmark | Unit | Base median | Head median | Head / base | Better when | "
        "Base runs | Head runs | Spread base / head |",
        "|---|---|---:|---:|---:|---|---|---|---:|",
    ]
    for bench in benches:
        b, h = base.runs[bench.name], head.runs[bench.name]
        bm, hm = median([f.median for f in b]), median([f.median for f in h])
        unit = h[0].unit
        lines.append(
            f"| {bench.name}: {h[0].contender} | {unit} | {fmt(bm, unit)} | {fmt(hm, unit)} | "
            f"{hm / bm:.3f} | {'higher' if bench.higher_is_better else 'lower'} | "
            f"{', '.join(fmt(f.median, unit) for f in b)} | "
            f"{', '.join(fmt(f.median, unit) for f in h)} | {spread(b)} / {spread(h)} |"
        )
    lines += [
        "",
        "Against each run's own baseline (the steadier figure on a loaded machine; contender / "
        "baseline, medians):",
        "",
    ]
    for bench in benches:
        b, h = base.runs[bench.name], head.runs[bench.name]
        ratios = [
            [f.median / f.baseline_median for f in runs if f.baseline_median] for runs in (b, h)
        ]
        if all(ratios):
            lines.append(
                f"- {bench.name}: against {h[0].baseline}: base {median(ratios[0]):.2f}x, "
                f"head {median(ratios[1]):.2f}x"
            )
        else:
            lines.append(f"- {bench.name}: no baseline in the output (its tool missing?)")
    lines += ["", "Commands, each run from its tree's root with this venv's python:", ""]
    for bench in benches:
        for tree in (base, head):
            lines.append(f"- {bench.name}, {tree.label}: `{tree.commands[bench.name]}`")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Check out the trees, run the rounds, print the summary and record it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument(
        "--head", default=WORKTREE, help=f"a revision, or '{WORKTREE}' (default): this tree"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(BENCHES), help="e.g. send,import,status")
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown or not names or args.rounds < 1:
        parser.error(f"--only takes some of {', '.join(BENCHES)}; --rounds at least 1")
    benches = [BENCHES[n] for n in names]

    load = os.getloadavg()[0]
    with checkout(args.base, "base") as base_path:
        base = Tree("base", args.base, git("rev-parse", "HEAD", cwd=base_path), base_path)
        if args.head == WORKTREE:
            dirty = " + uncommitted changes" if git("status", "--porcelain") else ""
            head = Tree("head", f"working tree{dirty}", git("rev-parse", "HEAD"), ROOT)
            run_rounds(benches, base, head, args.rounds)
        else:
            with checkout(args.head, "head") as head_path:
                commit = git("rev-parse", "HEAD", cwd=head_path)
                head = Tree("head", args.head, commit, head_path)
                run_rounds(benches, base, head, args.rounds)
    text = section(benches, base, head, sys.argv[1:], (load, os.getloadavg()[0]))
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
        print(f"written to {RESULTS.relative_to(ROOT)}")


def run_rounds(benches: list[Bench], base: Tree, head: Tree, rounds: int) -> None:
    """Run every bench from both trees `rounds` times, swapping the order every round."""
    for bench in benches:
        for tree in (base, head):
            if not (tree.path / bench.script).is_file():
                raise SystemExit(f"{tree.rev} has no {bench.script}")
    for n in range(1, rounds + 1):
        order = (base, head) if n % 2 else (head, base)
        for bench in benches:
            for tree in order:
                run_once(tree, bench, n)


if __name__ == "__main__":
    main()
