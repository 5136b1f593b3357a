"""What a short-lived child process of the service (a chart, a lead import) may see of its env."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Enough to run Python, find its caches and temp dirs; never the service's secrets (BOT_TOKEN,
# the `env:` passwords of the config), which no child needs.
CHILD_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SQLITE_TMPDIR",
             "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "PYTHONPATH",
             "SYSTEMROOT")  # fmt: skip


def child_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The names of CHILD_ENV that are set in `environ`, nothing else."""
    return {name: environ[name] for name in CHILD_ENV if name in environ}
