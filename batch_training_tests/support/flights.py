"""The flagship flights spec on a few weeks of data, for tests that train: seeded 2013-01-01 ..
2013-02-10, as of D the 28 days before D with the last 4 held out, so a model trains on 24 days.
The first as-of day is 2013-01-12 (first day + min_train_days + holdout_days).

Ten training days were too few: the candidate came out within 3% of the naive rule either way, and
whether it passed the gate depended on the row order. With 24 days its MAE is 9.1% and 5.4% below
the rule's as of 2013-02-10 and 2013-02-11. Also the raw schema the sample DWH stores flights in.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import yaml

from batch_training.sample.flights import ORDER, TEXT_COLUMNS
from batch_training.sample.seed import SeedOptions
from batch_training.spec import TrainingSpec, builtin_spec_dir, parse_spec

NAME = "flights_delay"
FIRST, LAST = dt.date(2013, 1, 1), dt.date(2013, 2, 10)
SEED = SeedOptions(first_day=FIRST, last_day=LAST)


def small_flights_data() -> dict:
    """The packaged spec as YAML data, made small: window 28 days, 4 held out, 12 short epochs of an ensemble of two; the
    gate asks the candidate only not to be worse than the naive rule."""
    data = yaml.safe_load((builtin_spec_dir() / f"{NAME}.yaml").read_text())
    data["source"]["last_day"] = LAST
    data["split"] = {"window_days": 28, "holdout_days": 4, "min_train_days": 7}
    data["model"].update(epochs=12, batch_size=256, patience=3, ensemble=2)
    data["gate"]["min_improvement_over_naive"] = 0.0
    return data


def small_flights(**gate) -> TrainingSpec:
    data = small_flights_data()
    data["gate"].update(gate)
    return parse_spec(data, "small flights spec")


def write_small_flights(folder: Path) -> Path:
    """``folder/flights_delay.yaml`` (for BATCH_TRAINING_SPEC_DIR); the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{NAME}.yaml").write_text(yaml.safe_dump(small_flights_data(), sort_keys=False))
    return folder


def _raw_type(name: str) -> pa.DataType:
    """The type the sample DWH stores each flagship column as (see batch_training/sample/flights.py)."""
    if name == "flight_date":
        return pa.date32()
    if name == "time_hour":
        return pa.timestamp("us", tz="UTC")
    if name in TEXT_COLUMNS or name in ("carrier", "tailnum", "origin", "dest"):
        return pa.string()
    return pa.int64()


RAW_SCHEMA = pa.schema([pa.field(name, _raw_type(name)) for name in ORDER])
