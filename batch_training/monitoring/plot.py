"""The live-versus-offline plot: the production model's error per day beside its holdout figure
and the naive rule's error, as a PNG (matplotlib's Agg canvas, like the evaluation report)."""

from __future__ import annotations

import datetime as dt
import io


def live_vs_offline_png(days: list[dt.date], live: list[float | None], offline: list[float],
                        naive: list[float | None], metric: str, ratio_warn: float) -> bytes:
    from matplotlib.figure import Figure  # ~0.7 s to import: only when a plot is drawn

    fig = Figure(figsize=(7.0, 3.2))
    ax = fig.add_subplot()
    if not days:
        ax.text(0.5, 0.5, "no days scored yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        nan = float("nan")
        ax.plot(days, [nan if v is None else v for v in live], marker=".", label=f"live {metric}")
        ax.plot(days, offline, linestyle="--", label=f"offline (holdout) {metric}")
        ax.plot(days, [o * ratio_warn for o in offline], linestyle=":", color="tab:red",
                label=f"warn above {ratio_warn:g} x offline")
        if any(v is not None for v in naive):
            ax.plot(days, [nan if v is None else v for v in naive], marker=".", alpha=0.6, label=f"naive rule {metric}")
        ax.set_ylabel(metric)
        ax.legend(fontsize="small")
        fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return buf.getvalue()
