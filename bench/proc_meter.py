"""What a running process costs, read from /proc: CPU seconds, resident memory, its peak."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces: the fields after it start past its ')'.
    fields = text.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def status_kb(pid: int, *names: str) -> dict[str, int]:
    """Fields of /proc/<pid>/status given in kB (VmRSS, VmHWM, RssAnon...), by name."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in names:
            out[key] = int(value.split()[0])
    return out


@dataclass(frozen=True, slots=True)
class Memory:
    """Resident memory now and its peak so far, in MB (MiB)."""

    rss_mb: float
    hwm_mb: float


def memory(pid: int) -> Memory:
    """VmRSS and VmHWM of a live process."""
    fields = status_kb(pid, "VmRSS", "VmHWM")
    return Memory(fields["VmRSS"] / 1024, fields["VmHWM"] / 1024)


@dataclass(frozen=True, slots=True)
class CpuWindow:
    """CPU a process used over a wall-clock window."""

    cpu_seconds: float
    wall_seconds: float

    @property
    def percent(self) -> float:
        """CPU time as a share of the window, in % of one core."""
        return 100 * self.cpu_seconds / self.wall_seconds


def cpu_over(pid: int, seconds: float) -> CpuWindow:
    """The process's CPU over the next `seconds` of wall time (this thread sleeps meanwhile)."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return CpuWindow(cpu_seconds(pid) - start_cpu, time.monotonic() - start)


def floor_rss(code: str) -> Memory:
    """RSS of a fresh interpreter (this venv's) after running `code`: a baseline."""
    probe = (
        f"{code}\n"
        "import pathlib as _p\n"
        "_s = {k: v for k, _, v in (l.partition(':') for l in "
        "_p.Path('/proc/self/status').read_text().splitlines())}\n"
        "print(_s['VmRSS'].split()[0], _s['VmHWM'].split()[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    rss, hwm = done.stdout.split()
    return Memory(int(rss) / 1024, int(hwm) / 1024)


def _parent(pid: str) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # field 4: the parent's pid


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class ChildPeaks:
    """Peak VmHWM of each process started under `root` (children, grandchildren) while running.

    Sampled every `every` s on a thread: a child's last reading before it exits stands for its
    peak (VmHWM only grows), so a peak reached in its last moments may be missed by a little.
    `peaks` maps a label (`label(cmdline)`, or the cmdline) to the largest peak seen, in MiB.
    """

    def __init__(self, root: int, label: Callable[[str], str], every: float = 0.02) -> None:
        self._root, self._label, self._every = root, label, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peaks: dict[str, float] = {}

    def __enter__(self) -> ChildPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            parents = {int(p): _parent(p) for p in os.listdir("/proc") if p.isdigit()}
            for pid in parents:
                if pid == self._root or not self._under_root(pid, parents):
                    continue
                try:
                    hwm = status_kb(pid, "VmHWM").get("VmHWM", 0) / 1024
                except OSError:
                    continue
                cmdline = _cmdline(pid)
                if not hwm or not cmdline:  # exiting: its memory and command line are gone
                    continue
                name = self._label(cmdline)
                self.peaks[name] = max(self.peaks.get(name, 0.0), hwm)

    def _under_root(self, pid: int, parents: dict[int, int | None]) -> bool:
        seen = 0
        current: int | None = pid
        while current is not None and seen < 64:  # a chain of parents, never a loop
            if current == self._root:
                return True
            current = parents.get(current)
            seen += 1
        return False
