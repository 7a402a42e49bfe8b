"""
``--plot``: both series per hour as a PNG, the gap hours shaded red and the surplus hours orange;
with ``--drift``, each hour's statements by class, stacked.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from backfill_app.core.errors import BackfillConfigError
from backfill_app.tracking.window import hour_after

if TYPE_CHECKING:
    from backfill_app.tracking.gap_finder.drift_by_hour import DriftComparison


def require_plotting(path: str) -> None:
    """
    Before a long search: --plot needs matplotlib, an extra (it brings numpy, which platforms pin),
    and a folder it can write its file in.
    """
    if importlib.util.find_spec("matplotlib") is None:
        raise BackfillConfigError(
            "--plot needs matplotlib: pip install 'openedx-backfill[plot]' (or matplotlib), or leave --plot out."
        )
    folder = Path(path).absolute().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise BackfillConfigError(f"--plot: cannot write {path} (no folder {folder} this process may write in).")


def plot_gaps(
    path: str,
    reference_per_hour: Mapping[datetime, int],
    statements_per_hour: Mapping[datetime, int],
    gap_hours: Iterable[datetime],
    surplus_hours: Iterable[datetime],
    reference: tuple[str, str],
) -> None:
    """
    Both series per hour, ``gap_hours`` and ``surplus_hours`` shaded; ``reference``: what the
    table is compared with ("the logs"), and its series' label.
    """
    reference_name, reference_label = reference
    gap_hours, surplus_hours = list(gap_hours), list(surplus_hours)
    import matplotlib

    matplotlib.use("Agg")  # a file, no screen
    import matplotlib.pyplot as plt

    hours = sorted(set(reference_per_hour) | set(statements_per_hour))
    figure, axes = plt.subplots(figsize=(12, 4.5))
    axes.plot(hours, [reference_per_hour.get(h, 0) for h in hours], label=reference_label, linewidth=1.2)
    axes.plot(hours, [statements_per_hour.get(h, 0) for h in hours], label="statements in ClickHouse", linewidth=1.2)
    for shaded, color in ((gap_hours, "tab:red"), (surplus_hours, "tab:orange")):
        for hour in shaded:
            # matplotlib takes datetimes on a date axis; its type stubs say float.
            axes.axvspan(hour, hour_after(hour), color=color, alpha=0.25, linewidth=0)  # type: ignore[arg-type]
    title = (
        f"Statements per hour: {len(gap_hours)} hours with fewer statements than {reference_name} give (red), "
        f"{len(surplus_hours)} with more (orange)"
    )
    _save(plt, figure, axes, path, title, "count per hour")


def _save(plt, figure, axes, path: str, title: str, y_label: str) -> None:
    axes.set_title(title)
    axes.set_xlabel("hour (UTC)")
    axes.set_ylabel(y_label)
    axes.legend(loc="upper left")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --drift's classes, bottom to top, and their colours: what needs a look stands out.
DRIFT_BARS = (
    ("same", "held as today's ERB makes them", "tab:green"),
    ("stale", "stale (an older ERB's content)", "tab:orange"),
    ("other_id", "the same event under another id", "tab:red"),
    ("missing", "missing", "tab:blue"),
)


def plot_drift(path: str, found: DriftComparison) -> None:
    """``found``: a DriftComparison; each of its hours one bar, stacked by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = found.hours
    moments = [row.hour for row in hours]
    figure, axes = plt.subplots(figsize=(12, 4.5))
    bottom = [0] * len(hours)
    width = 1 / 24 * 0.9  # an hour, in days (matplotlib's date unit), with a gap between bars
    for kind, label, color in DRIFT_BARS:
        heights = [getattr(row, kind) for row in hours]
        if not any(heights):
            continue  # not drawn, nor named in the legend
        # matplotlib takes datetimes on a date axis; its type stubs say float.
        axes.bar(moments, heights, width=width, bottom=bottom, label=label, color=color, align="edge")  # type: ignore[arg-type]
        bottom = [below + height for below, height in zip(bottom, heights, strict=True)]
    drifted = len(found.drifted_hours)
    title = f"Statements today's ERB makes, per hour, as the table holds them: {drifted} hours hold an older ERB's"
    _save(plt, figure, axes, path, title, "statements per hour")
