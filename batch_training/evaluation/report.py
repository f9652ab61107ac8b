"""The evaluation report: small PNG plots, a Markdown page and the files on disk.

Plots are drawn on ``matplotlib.figure.Figure`` objects rendered by the Agg canvas, never through
``pyplot``: no GUI backend is touched, no global figure registry can leak figures, the process-wide
backend of whoever imports this module is left alone, and it is safe from threads. The effect the
"``matplotlib.use('Agg')`` + close every figure" recipe is after, without its global state. Figures are
6x4 in at 80 dpi so each PNG embeds in Markdown metadata well under ~60 KB.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from batch_training.storage.files import write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_SIZE = (6.0, 4.0)
_DPI = 80
_TOP_SLICES = 15


def _figure(figsize: tuple[float, float] = _SIZE) -> "Figure":
    # Imported here: matplotlib takes ~0.7 s to import, and the gate and metrics do not need it.
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _png(fig: "Figure") -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return buf.getvalue()


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def learning_curve_png(history: list[dict]) -> bytes:
    """Train and validation loss per epoch (a missing or None loss is left out)."""
    fig = _figure()
    ax = fig.add_subplot()
    if not history:
        _empty(ax, "no training history")
        return _png(fig)
    members = sorted({h.get("member", 0) for h in history})
    for member in members:  # an ensemble: one pair of curves per network
        own = [h for h in history if h.get("member", 0) == member]
        suffix = f" (model {member + 1})" if len(members) > 1 else ""
        for key, label in (("train_loss", "train"), ("valid_loss", "validation")):
            points = [(h["epoch"], h[key]) for h in own if h.get(key) is not None]
            if points:
                ax.plot(*zip(*points), marker="o", label=label + suffix)
    ax.set(xlabel="epoch", ylabel="loss", title="Learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def predicted_vs_actual_png(y_true, y_pred, max_points: int = 5000, seed: int = 0) -> bytes:
    """Regression: predicted against actual (a seeded sample of at most ``max_points`` finite pairs)
    with the y = x diagonal."""
    y = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    keep = np.flatnonzero(np.isfinite(y) & np.isfinite(p))
    if keep.size > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=max_points, replace=False))
    fig = _figure()
    ax = fig.add_subplot()
    if keep.size == 0:
        _empty(ax, "no finite predictions")
        return _png(fig)
    ax.scatter(y[keep], p[keep], s=4, alpha=0.3, linewidths=0, rasterized=True)
    lo, hi = float(min(y[keep].min(), p[keep].min())), float(max(y[keep].max(), p[keep].max()))
    ax.plot([lo, hi], [lo, hi], color="black", lw=1, label="y = x")
    ax.set(xlabel="actual", ylabel="predicted", title=f"Predicted vs actual ({keep.size} of {y.size} rows)")
    ax.legend(loc="upper left")
    return _png(fig)


def error_by_slice_png(slices: dict[str, dict[str, dict]], metric: str,
                       models: dict[str, dict[str, dict[str, dict]]] | None = None) -> bytes:
    """Horizontal bars of ``metric`` per slice value, one panel per slice column, the 15 largest values
    by candidate n; each model in ``models`` (name -> column -> value -> metrics) gets a bar beside the
    candidate's where it has that slice."""
    columns = [c for c, v in (slices or {}).items() if v]
    series = [("candidate", slices or {})] + list((models or {}).items())
    fig = _figure((_SIZE[0], max(_SIZE[1], 2.6 * len(columns))))
    if not columns:
        _empty(fig.add_subplot(), "no slices")
        return _png(fig)
    width = 0.8 / len(series)
    for i, column in enumerate(columns):
        ax = fig.add_subplot(len(columns), 1, i + 1)
        values = sorted(slices[column], key=lambda v: -float(slices[column][v].get("n", 0)))[:_TOP_SLICES]
        ypos = np.arange(len(values))
        for j, (name, model) in enumerate(series):
            per_value = (model or {}).get(column) or {}
            heights = [float(per_value.get(v, {}).get(metric, math.nan)) for v in values]
            ax.barh(ypos + j * width, np.nan_to_num(heights, nan=0.0, posinf=0.0), height=width, label=name)
        ax.set_yticks(ypos + width * (len(series) - 1) / 2,
                      [f"{v} (n={int(slices[column][v].get('n', 0))})" for v in values], fontsize=7)
        ax.invert_yaxis()
        ax.set(xlabel=metric, title=f"{metric} by {column}")
        if len(series) > 1:
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _png(fig)


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def render_markdown(report: dict, images: dict[str, str]) -> str:
    """The report as Markdown: decision and every reason, the headline metrics (candidate vs baselines
    vs champion), each gate check, the slice table and the images (``images``: name -> file name or
    data URI). Optional ``report["slice_references"]`` (name -> column -> value -> metrics) adds the
    reference models' slice metric as extra columns."""
    gate, metric = report.get("gate") or {}, report.get("metric", "")
    title = f"# Evaluation: {report.get('spec', '')}" + (f" as of {report['as_of']}" if report.get("as_of") else "")
    if gate.get("overridden"):
        verdict = f"**Decision: SHIPPED BY OVERRIDE** ({gate.get('override_reason')})"
    else:
        verdict = "**Decision: PASSED**" if gate.get("passed") else "**Decision: FAILED**"
    lines = [title, "", verdict + f" (gate metric: `{metric}`, lower is better)", ""]
    if gate.get("reasons"):
        lines += ["Failed rules:", ""] + [f"- {r}" for r in gate["reasons"]] + [""]
    baselines = report.get("baselines") or {}
    models = [("candidate", report.get("candidate") or {})] + [(k, v) for k, v in baselines.items() if v] + \
             ([("champion", report["champion"])] if report.get("champion") else [])
    keys = [metric] + [k for _, m in models for k in m if k not in (metric, "n")]
    keys = list(dict.fromkeys(k for k in keys if k)) + ["n"]
    lines += ["## Metrics", ""] + _table(["metric"] + [n for n, _ in models],
                                         [[k] + [m.get(k) for _, m in models] for k in keys]) + [""]
    lines += _threshold_lines(report.get("decision_threshold"))
    if gate.get("checks"):
        lines += ["## Gate checks", ""] + _table(["rule", "passed", "detail"],
                                                 [[c.get("rule"), c.get("passed"), c.get("detail")]
                                                  for c in gate["checks"]]) + [""]
    lines += [f"- note: {n}" for n in gate.get("notes") or []] + ([""] if gate.get("notes") else [])
    refs = report.get("slice_references") or {}
    for column, values in (report.get("slices") or {}).items():
        rows = [[v, m.get("n"), m.get(metric)] + [((refs[r].get(column) or {}).get(v) or {}).get(metric)
                                                  for r in refs] for v, m in values.items()]
        lines += [f"## Slices by `{column}`", ""] + _table(["value", "n", metric] + list(refs), rows) + [""]
    if report.get("data"):
        lines += ["## Data", ""] + [f"- {k}: {_cell(v)}" for k, v in report["data"].items()] + [""]
    if images:
        lines += ["## Plots", ""] + [f"![{name}]({uri})" + "\n" for name, uri in images.items()]
    return "\n".join(lines).rstrip() + "\n"


def _threshold_lines(section: dict | None) -> list[str]:
    """Binary: which class is positive, each model's threshold and how the candidate's was chosen."""
    if not section:
        return []
    lines = ["## Decision threshold", "",
             f"A row is labelled `{section.get('positive_class')}` when its probability is >= the model's threshold; "
             "accuracy, precision, recall and F1 above are of those labels.", ""]
    lines += [f"- {k.removesuffix('_threshold')}: {_cell(v)}" for k, v in section.items() if k.endswith("_threshold")]
    chosen = section.get("chosen_on") or {}
    if chosen:
        lines.append(f"- the candidate's was chosen on {chosen.get('rows')} validation rows of the training days "
                     f"({chosen.get('positives')} positive; F1 there {_cell(chosen.get('f1'))}): {chosen.get('rule')}")
    return lines + [""]


def _jsonable(value: object) -> object:
    """Strict JSON: numpy scalars and arrays to Python, NaN/inf to null, paths and dates to strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _jsonable(to_dict())
    return str(value)


def write_report(directory: Path, report: dict, pngs: dict[str, bytes]) -> dict[str, Path]:
    """Write ``report.json`` (strict JSON: NaN/inf become null), each PNG as ``<name>.png`` and
    ``report.md`` linking them by file name, each atomically. Returns the paths keyed by file name
    (``report.json``, ``report.md``, ``<name>.png``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    images: dict[str, str] = {}
    for name, png in pngs.items():
        file_name = name if name.endswith(".png") else f"{name}.png"
        if Path(file_name).name != file_name or file_name.startswith("."):
            raise ValueError(f"image name {name!r} is not a plain file name")
        write_bytes_atomic(directory / file_name, png)
        paths[file_name], images[name] = directory / file_name, file_name
    paths["report.json"] = directory / "report.json"
    write_bytes_atomic(paths["report.json"], json.dumps(_jsonable(report), indent=2, allow_nan=False).encode("utf-8"))
    paths["report.md"] = directory / "report.md"
    write_bytes_atomic(paths["report.md"], render_markdown(report, images).encode("utf-8"))
    return paths
