"""The evaluation report as a typed value: what the gate decided, the figures beside each other,
the data it was computed on. ``write_report`` (report.py) writes ``report.json``; ``read`` here is its
one reader. The whole document stays available as ``document`` (the Markdown renders from it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    reasons: list[str]
    overridden: bool
    override_reason: str | None


@dataclass(frozen=True)
class EvaluationReport:
    spec: str
    as_of: str
    task: str
    metric: str                       # the gate's metric (lower is better)
    candidate: dict[str, float]       # every metric of the candidate on the holdout, with ``n``
    naive: dict[str, float] | None    # the spec's naive rule, when it has one
    constant: dict[str, float]        # the best constant
    champion: dict[str, Any] | None   # the production model's figures, version and as-of day
    gate: GateVerdict
    data_version: str
    train_days: list                  # [first, last, count]
    holdout_days: list
    tables: dict[str, list]           # every table's days read, by the table's folder name
    document: dict[str, Any]          # the whole report.json

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "EvaluationReport":
        gate, data = doc["gate"], doc["data"]
        return cls(doc["spec"], str(doc["as_of"]), doc["task"], doc["metric"], dict(doc["candidate"]),
                   doc["baselines"].get("naive"), doc["baselines"]["constant"], doc.get("champion"),
                   GateVerdict(bool(gate["passed"]), list(gate.get("reasons") or []), bool(gate.get("overridden")),
                               gate.get("override_reason")),
                   data["data_version"], data["train_days"], data["holdout_days"], dict(data.get("tables") or {}), doc)

    @classmethod
    def read(cls, path: Path) -> "EvaluationReport":
        """From ``report.json`` (or the folder holding it)."""
        path = Path(path)
        return cls.from_dict(json.loads((path / "report.json" if path.is_dir() else path).read_text()))

    @property
    def score(self) -> float:
        """The candidate's figure on the gate's metric."""
        return float(self.candidate[self.metric])

    @property
    def rows(self) -> int:
        return int(self.candidate["n"])

    @property
    def champion_version(self) -> str | None:
        return (self.champion or {}).get("version")
