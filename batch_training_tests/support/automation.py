"""Definitions with the schedule and the recovery sensor for tests, a local alert receiver, and a
stand-in for the daemon: evaluate the sensor, then run the backfills it asks for in process."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg

from batch_training.defs import build_defs
from batch_training.defs.automation import backfills
from batch_training.defs.resources import (
    AlertsResource,
    ArtifactStoreResource,
    ImageBuilderResource,
    LedgerResource,
    RegistryResource,
    WarehouseResource,
)
from batch_training.settings import Settings
from batch_training.spec import TrainingSpec


class AlertReceiver:
    """A real HTTP server on 127.0.0.1 that records every JSON body POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self) -> list[str]:
        return [body["batch_training"]["kind"] for body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_settings(home: Path, **overrides) -> Settings:
    values = {"home": home, "retry_max": 2, "retry_delay_s": 0.2, "relaunch_budget": 2, "relaunch_backoff_s": 0.0,
              "alert_sink": "webhook", "ui_url": "http://127.0.0.1:3000"}
    return Settings(**(values | overrides))


def automation_defs(spec: TrainingSpec, settings: Settings, warehouse_url: str, alert_url: str) -> dg.Definitions:
    registry_url = f"sqlite:///{settings.home / 'registry.db'}"
    resources = {
        "warehouse": WarehouseResource(url=warehouse_url),
        "artifacts": ArtifactStoreResource(root=str(settings.data_dir)),
        "registry": RegistryResource(url=registry_url), "ledger": LedgerResource(url=registry_url),
        "alerts": AlertsResource(kind="webhook", webhook_url=alert_url), "images": ImageBuilderResource(kind="none"),
    }
    return build_defs([spec], settings, resources=resources)


class Daemon:
    """Evaluates the recovery sensor with the real instance, keeping its cursor like the daemon does."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance, self.cursor = defs, instance, None
        self.launched: list[dg.RunRequest] = []

    def tick(self) -> list[dg.RunRequest]:
        sensor = self.defs.get_sensor_def("recovery")
        resources = {key: self.defs.resources[key] for key in ("ledger", "alerts")}
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.defs,
                                          resources=resources)
        data = sensor.evaluate_tick(context)
        self.cursor = data.cursor
        return list(data.run_requests)

    def launch(self, request: dg.RunRequest) -> backfills.BackfillSummary:
        """Run a requested backfill as the daemon would: recorded as a Dagster backfill, one run of the
        implicit asset job per contiguous range, in this process."""
        self.launched.append(request)
        graph = self.defs.resolve_asset_graph()
        job = self.defs.resolve_implicit_global_asset_job_def()
        record = backfills.InProcessBackfill(self.instance, graph, request.asset_graph_subset, dict(request.tags),
                                             title="recovery")

        def execute(keys, tags):
            return job.execute_in_process(instance=self.instance, tags=tags, asset_selection=keys,
                                          raise_on_error=False)

        return record.run(execute)
