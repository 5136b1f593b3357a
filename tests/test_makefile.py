"""The Makefile's choice of Python: the newest working python3 >= 3.11 on PATH, or PYTHON=..."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Found on the real PATH: the tests run make with a PATH of fakes only.
MAKE = shutil.which("make") or "/usr/bin/make"

# A stand-in interpreter: answers --version, and exits 0 on the version check when new enough.
FAKE = """#!/bin/sh
[ "$1" = --version ] && {{ echo "Python {version}"; exit 0; }}
exit {status}
"""
BROKEN = "#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n"


def fake_path(tmp: Path, **pythons: str) -> Path:
    """A PATH folder holding fake interpreters: name -> version ('broken' for a dead shim)."""
    folder = tmp / "bin"
    folder.mkdir()
    for name, version in pythons.items():
        script = folder / name.replace("_", ".")
        if version == "broken":
            script.write_text(BROKEN)
        else:
            new_enough = tuple(int(p) for p in version.split(".")[:2]) >= (3, 11)
            script.write_text(FAKE.format(version=version, status=0 if new_enough else 1))
        script.chmod(0o755)
    return folder


def make_python(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`make -s python` with only `path` on PATH (make and /bin/sh are called by absolute path)."""
    return subprocess.run(
        [MAKE, "-s", "-C", str(ROOT), "python", *args],
        env={"PATH": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_newest_working_python_wins(tmp_path: Path) -> None:
    path = fake_path(tmp_path, python3_13="broken", python3_12="3.12.1", python3_11="3.11.7")
    result = make_python(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "python3.12 (Python 3.12.1)\n"


def test_plain_python3_counts_when_new_enough(tmp_path: Path) -> None:
    result = make_python(fake_path(tmp_path, python3="3.13.0"))
    assert result.stdout == "python3 (Python 3.13.0)\n"


def test_python_given_on_the_command_line_wins(tmp_path: Path) -> None:
    path = fake_path(tmp_path, python3_12="3.12.1", python3_11="3.11.7")
    assert make_python(path, "PYTHON=python3.11").stdout == "python3.11 (Python 3.11.7)\n"
    assert make_python(path, "PY=python3.11").stdout == "python3.11 (Python 3.11.7)\n"


def test_no_python_new_enough_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = make_python(fake_path(tmp_path, python3="3.10.12", python3_13="broken"))
    assert result.returncode != 0
    assert result.stdout.startswith("no Python >= 3.11 on PATH")
    assert "make PYTHON=/path/to/python3.x" in result.stdout


def test_a_given_python_too_old_is_refused(tmp_path: Path) -> None:
    path = fake_path(tmp_path, python3_12="3.12.1", python3_10="3.10.12")
    result = make_python(path, "PYTHON=python3.10")
    assert result.returncode != 0
    assert result.stdout.startswith("python3.10 is not a working Python >= 3.11")
