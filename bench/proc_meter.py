"""What a running process costs, read from /proc: CPU seconds, resident memory, its peak."""

from __future__ import annotations

import os
import subprocess
import sys
import time
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
