"""``--plot``: both series per hour as a PNG, the gap hours shaded red and the surplus hours orange."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from backfill_app.core.errors import BackfillConfigError
from backfill_app.tracking.window import hour_after


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
    axes.set_title(
        f"Statements per hour: {len(gap_hours)} hours with fewer statements than {reference_name} give (red), "
        f"{len(surplus_hours)} with more (orange)"
    )
    axes.set_xlabel("hour (UTC)")
    axes.set_ylabel("count per hour")
    axes.legend(loc="upper left")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
