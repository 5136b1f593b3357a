"""The chart process: (name, data) pickled on stdin, the chart's PNG on stdout, then exit.

Run as `python -m bot.chart_worker` by bot.charts.render: matplotlib's memory leaves with it.
"""

from __future__ import annotations

import pickle
import sys

from bot.charts import CHARTS


def main() -> int:
    """Draw one chart; exit status 2 for a chart name that is not known."""
    # Pickle from our own parent only, over a pipe nobody else writes: never from a user's file.
    name, data = pickle.loads(sys.stdin.buffer.read())
    draw = CHARTS.get(name)
    if draw is None:
        sys.stderr.write(f"unknown chart {name!r}\n")
        return 2
    sys.stdout.buffer.write(draw(data))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
