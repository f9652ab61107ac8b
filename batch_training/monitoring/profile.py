"""The reference profile of a training window: what each feature looked like when the model learnt.

- numeric feature: quantile bin edges of its training values and the count of values in each bin.
  With ``bins`` B the edges are the 1/B .. (B-1)/B quantiles, deduplicated (a constant feature has a
  single edge). Bins are right-closed and the outer two open-ended: ``(-inf, e0], (e0, e1], ..,
  (e_last, +inf)``, so every future value falls in one bin.
- categorical feature: the count of each of the ``top_categories`` most frequent values (ties by
  name), the pooled count of the rest (``other``) and the rest's names (``others``), so a value never
  seen in training is told apart from a rare one. Values are compared as text, as the preprocessor does.
- every feature: ``rows`` (rows of the window) and ``missing`` (null, NaN or infinite values; the
  preprocessor treats them alike). Bin and category counts are of the present values only.

Counts, not shares, are stored: integers round-trip JSON exactly; shares are derived.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from batch_training.storage.files import write_bytes_atomic

FORMAT = "batch_training.reference_profile/1"
PROFILE_FILE = "reference_profile.json"


@dataclass(frozen=True)
class NumericProfile:
    name: str
    rows: int
    missing: int
    edges: list[float]   # inner cut points, ascending; [] when training had no value
    counts: list[int]    # present values per bin: len(edges) + 1 of them ([] when no value)

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    @property
    def shares(self) -> list[float]:
        """Each bin's share of the present values."""
        total = sum(self.counts)
        return [c / total for c in self.counts] if total else []


@dataclass(frozen=True)
class CategoricalProfile:
    name: str
    rows: int
    missing: int
    counts: dict[str, int]                           # the top categories, most frequent first
    other: int = 0                                   # present values of the remaining categories
    others: list[str] = field(default_factory=list)  # their names, sorted

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    @property
    def bins(self) -> list[str]:
        """The categories compared by name; the pooled rest is the last bin."""
        return list(self.counts)

    @property
    def shares(self) -> list[float]:
        """Each top category's share of the present values, then the pooled rest's."""
        values = [*self.counts.values(), self.other]
        total = sum(values)
        return [v / total for v in values] if total else []

    def known(self) -> set[str]:
        """Every category training saw."""
        return set(self.counts) | set(self.others)


@dataclass(frozen=True)
class ReferenceProfile:
    rows: int
    numeric: list[NumericProfile]
    categorical: list[CategoricalProfile]
    bins: int
    top_categories: int
    format: str = FORMAT

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ReferenceProfile":
        if data.get("format") != FORMAT:
            raise ValueError(f"not a batch_training reference profile (format {data.get('format')!r})")
        return cls(rows=data["rows"], numeric=[NumericProfile(**f) for f in data["numeric"]],
                   categorical=[CategoricalProfile(**f) for f in data["categorical"]],
                   bins=data["bins"], top_categories=data["top_categories"])


Table = pa.Table | pd.DataFrame


def column(data: Table, name: str) -> pa.ChunkedArray:
    """A column of an Arrow table or a DataFrame, as Arrow (NaN in an object column becomes null)."""
    if name not in (data.column_names if isinstance(data, pa.Table) else data.columns):
        raise KeyError(f"feature {name!r} is not a column of the data")
    if isinstance(data, pa.Table):
        return data.column(name)
    return pa.chunked_array([pa.array(data[name], from_pandas=True)])


def floats(data: Table, name: str) -> np.ndarray:
    """A numeric feature as float64; missing values (null, NaN, +-inf) are NaN."""
    values = column(data, name).cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def category_counts(data: Table, name: str) -> tuple[dict[str, int], int]:
    """A categorical feature's count of each value (as text, most frequent first, ties by name) and
    its number of missing (null) values."""
    text = column(data, name).cast(pa.string())
    counts = pc.value_counts(pc.drop_null(text)).to_pylist()
    ordered = sorted(counts, key=lambda c: (-c["counts"], c["values"]))
    return {c["values"]: int(c["counts"]) for c in ordered}, int(text.null_count)


def bin_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    """Present values per bin of ``edges`` (right-closed, outer bins open-ended); NaN is skipped."""
    present = values[~np.isnan(values)]
    index = np.searchsorted(np.asarray(edges, np.float64), present, side="left")
    return np.bincount(index, minlength=len(edges) + 1).astype(int).tolist()


def _numeric(data: Table, name: str, bins: int) -> NumericProfile:
    values = floats(data, name)
    present = values[~np.isnan(values)]
    if present.size == 0:
        return NumericProfile(name, len(values), len(values), [], [])
    edges = np.unique(np.quantile(present, np.arange(1, bins) / bins)).tolist()
    return NumericProfile(name, len(values), int(values.size - present.size), edges, bin_counts(present, edges))


def _categorical(data: Table, name: str, top: int) -> CategoricalProfile:
    counts, missing = category_counts(data, name)
    kept = dict(list(counts.items())[:top])
    rest = sorted(set(counts) - set(kept))
    return CategoricalProfile(name, len(data), missing, kept, sum(counts[c] for c in rest), rest)


def build_profile(data: Table, numeric: list[str], categorical: list[str], bins: int = 10,
                  top_categories: int = 20) -> ReferenceProfile:
    """The reference profile of the training rows ``data`` (an Arrow table or a DataFrame)."""
    return ReferenceProfile(len(data), [_numeric(data, n, bins) for n in numeric],
                            [_categorical(data, n, top_categories) for n in categorical], bins, top_categories)


def save_profile(profile: ReferenceProfile, folder: Path) -> Path:
    """Write ``reference_profile.json`` into ``folder`` (beside the model's checkpoint), atomically
    (the evaluation report's writer: a temporary file, fsynced, renamed over the name)."""
    path = Path(folder) / PROFILE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, json.dumps(profile.to_dict(), indent=1).encode("utf-8"))
    return path


def load_profile(folder: Path) -> ReferenceProfile:
    return ReferenceProfile.from_dict(json.loads((Path(folder) / PROFILE_FILE).read_text(encoding="utf-8")))
