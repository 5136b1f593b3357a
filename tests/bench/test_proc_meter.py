"""bench/proc_meter.py: what the idle bench reads from /proc about a process and its children."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.proc_meter import ChildPeaks, cpu_over, cpu_seconds, floor_rss, memory

# A child that holds 64 MiB (touched, so resident), says so, and waits for its stdin to close.
HOLDER = (
    "import sys\n"
    "block = bytearray(64 * 1024 * 1024)\n"
    "print('holding', flush=True)\n"
    "sys.stdin.read()\n"
)


def test_memory_and_cpu_of_this_process() -> None:
    here = memory(os.getpid())
    assert 5 < here.rss_mb <= here.hwm_mb
    before = cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))  # some CPU for the clock ticks to see
    assert cpu_seconds(os.getpid()) > before
    window = cpu_over(os.getpid(), 0.05)
    assert window.wall_seconds >= 0.05 and window.percent >= 0


def test_floor_of_a_bare_interpreter_is_smaller_than_one_holding_memory() -> None:
    bare = floor_rss("pass")
    holding = floor_rss("block = bytearray(64 * 1024 * 1024)")
    assert bare.rss_mb > 1 and holding.rss_mb > bare.rss_mb + 50


def test_child_peaks_sees_a_grandchild_and_labels_it() -> None:
    # This process -> a shell -> the holder: the holder is found under this process.
    with ChildPeaks(os.getpid(), lambda cmd: "holder" if "bytearray" in cmd else "other") as meter:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", '"$0" -c "$1"; exit $?', sys.executable, HOLDER],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline() == "holding\n"
        deadline = time.monotonic() + 60  # a generous bound: a sample comes every 20 ms
        while meter.peaks.get("holder", 0) < 64 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.stdin.close()
        proc.wait(30)
        proc.stdout.close()
    assert meter.peaks["holder"] >= 64
