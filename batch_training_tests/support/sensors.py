"""Synthetic data for the second spec (sensor_health): hourly readings of four sensors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from batch_training.spec import TrainingSpec, load_spec

SPEC_PATH = Path(__file__).resolve().parents[1] / "specs" / "sensor_health.yaml"


def sensor_spec() -> TrainingSpec:
    return load_spec(SPEC_PATH)


def sensor_readings(first: dt.date, days: int, seed: int = 7) -> pa.Table:
    """Hourly readings (local Berlin hours) of sensors s1..s4; battery stored as text, as DWHs do."""
    rng = np.random.default_rng(seed)
    tz = ZoneInfo("Europe/Berlin")
    stamps, sensors, temps, battery, firmware, status = [], [], [], [], [], []
    for d in range(days):
        day = first + dt.timedelta(days=d)
        for hour in range(24):
            local = dt.datetime.combine(day, dt.time(hour), tz)
            for s in ("s1", "s2", "s3", "s4"):
                temp = float(rng.normal(20, 8))
                bat = int(rng.integers(5, 100))
                stamps.append(local.astimezone(dt.timezone.utc))
                sensors.append(s)
                temps.append(round(temp, 2))
                battery.append(str(bat))
                firmware.append(None if rng.random() < 0.1 else f"v{rng.integers(1, 4)}")
                status.append("failed" if bat < 10 else "degraded" if temp > 30 else "ok")
    return pa.table({
        "read_at": pa.array(stamps, pa.timestamp("us", tz="UTC")),
        "sensor": sensors, "temperature_c": temps, "battery_pct": battery,
        "firmware": firmware, "status": status,
    })


def binary_sensor_spec() -> TrainingSpec:
    """sensor_health as a binary task: status is ``alert`` (degraded or failed) or ``ok``. The positive
    class ``alert`` sorts before ``ok``: with classes in sorted order the model would predict ``ok``."""
    data = sensor_spec().model_dump(exclude_unset=True)
    data["name"] = "sensor_alert"
    data["columns"]["status"] = {"type": "string", "allowed": ["ok", "alert"]}
    data.update(task="binary", positive_class="alert")
    return TrainingSpec.model_validate(data)


def alert_readings(first: dt.date, days: int, seed: int = 7) -> pa.Table:
    """``sensor_readings`` with status folded to the binary spec's ``alert`` / ``ok`` (about 15% alert)."""
    t = sensor_readings(first, days, seed=seed)
    status = ["ok" if s == "ok" else "alert" for s in t.column("status").to_pylist()]
    return t.set_column(t.schema.get_field_index("status"), "status", pa.array(status))


def typed(readings: pa.Table) -> pa.Table:
    """Readings as cleansing types them (battery_pct text -> int64), for tests that skip the pipeline."""
    i = readings.schema.get_field_index("battery_pct")
    return readings.set_column(i, "battery_pct", readings.column("battery_pct").cast(pa.int64()))
