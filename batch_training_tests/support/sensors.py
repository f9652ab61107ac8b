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


SENSORS = ("s1", "s2", "s3", "s4")


def sensor_calibrations(first: dt.date, days: int, seed: int = 7) -> pa.Table:
    """Each sensor's calibrations: one every 20 to 40 hours at an odd minute, from 05:00 UTC of the
    first day on (the first within 10 hours of it), each with the offset (degrees C) the sensor reads high by until the next one."""
    start = dt.datetime.combine(first, dt.time(5), dt.timezone.utc)
    end = dt.datetime.combine(first + dt.timedelta(days=days), dt.time(0), dt.timezone.utc)
    rows = []
    for i, s in enumerate(SENSORS):
        rng = np.random.default_rng([seed, 1000 + i])  # per sensor: fewer days give a prefix of more
        at = start + dt.timedelta(minutes=int(rng.integers(0, 600)))
        while at < end:
            rows.append((at, s, round(float(rng.uniform(-6, 6)), 2)))
            at += dt.timedelta(minutes=int(rng.integers(20 * 60, 40 * 60)))
    rows.sort()
    return pa.table({"calibrated_at": pa.array([r[0] for r in rows], pa.timestamp("us", tz="UTC")),
                     "sensor": [r[1] for r in rows], "offset_c": [r[2] for r in rows]})


def _offset_at(calibrations: pa.Table, sensor: str, at: dt.datetime) -> float | None:
    """The offset of the sensor's latest calibration at or before ``at`` (None before the first)."""
    best = None
    for when, s, offset in zip(*(calibrations.column(c).to_pylist() for c in ("calibrated_at", "sensor", "offset_c"))):
        if s == sensor and when <= at:
            best = offset
    return best


def sensor_readings(first: dt.date, days: int, seed: int = 7) -> pa.Table:
    """Hourly readings (local Berlin hours) of sensors s1..s4; battery stored as text, as DWHs do.
    A sensor is ``failed`` on a low battery and ``degraded`` when its true temperature (the reading
    less its calibration offset, ``sensor_calibrations`` of the same seed) is over 30 C at night or
    over 34 C by day (07:00-19:59 local): the status needs the joined offset and the derived hour."""
    rng = np.random.default_rng(seed)
    tz = ZoneInfo("Europe/Berlin")
    calibrations = sensor_calibrations(first, days, seed)
    stamps, sensors, temps, battery, firmware, status = [], [], [], [], [], []
    for d in range(days):
        day = first + dt.timedelta(days=d)
        for hour in range(24):
            local = dt.datetime.combine(day, dt.time(hour), tz)
            for s in SENSORS:
                temp = float(rng.normal(22, 8))
                bat = int(rng.integers(5, 100))
                utc = local.astimezone(dt.timezone.utc)
                true_temp = temp - (_offset_at(calibrations, s, utc) or 0.0)
                stamps.append(utc)
                sensors.append(s)
                temps.append(round(temp, 2))
                battery.append(str(bat))
                firmware.append(None if rng.random() < 0.1 else f"v{rng.integers(1, 4)}")
                status.append("failed" if bat < 10 else "degraded" if true_temp > (34 if 7 <= hour < 20 else 30) else "ok")
    return pa.table({
        "read_at": pa.array(stamps, pa.timestamp("us", tz="UTC")),
        "sensor": sensors, "temperature_c": temps, "battery_pct": battery,
        "firmware": firmware, "status": status,
    })


def seed_sensors(wh, first: dt.date, days: int, seed: int = 7, readings: pa.Table | None = None) -> None:
    """The second spec's two DWH tables: telemetry.readings (``readings`` or ``sensor_readings``) and
    the telemetry.calibrations it joins."""
    wh.execute("CREATE SCHEMA IF NOT EXISTS telemetry")
    wh.replace_table("telemetry.readings", readings if readings is not None else sensor_readings(first, days, seed))
    wh.replace_table("telemetry.calibrations", sensor_calibrations(first, days, seed))


def assembled(spec: TrainingSpec, readings: pa.Table, first: dt.date, days: int, seed: int = 7) -> pa.Table:
    """Readings as the training dataset holds them, for tests that skip the pipeline: typed as
    cleansing types them, with the derived features and the joined calibration (``calibration.*``)."""
    from batch_training.features.columns import joined_columns
    from batch_training.features.derive import add_derived
    from batch_training.features.join import as_of_join

    table = add_derived(typed(readings), spec, after_joins=False)
    for name, join in spec.joins.items():
        table, _ = as_of_join(table, sensor_calibrations(first, days, seed), name, join, joined_columns(spec, name))
    return add_derived(table, spec, after_joins=True)


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
