"""Alert sinks: the webhook against a real local HTTP server, the log sink through caplog."""

from __future__ import annotations

import json
import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from batch_training.operations.alerts import (
    Alert,
    AlertError,
    LogAlertSink,
    WebhookAlertSink,
    alert_sink,
    redact_webhook,
)

TOKEN = "T0001/B0002/s3cr3tT0k3nXYZ"
ALERT = Alert(kind="retries_exhausted", title="raw_flights 2013-12-01 failed 3 times",
              text="connection reset by the DWH <db> & gave up", spec="flights_delay",
              run_url="http://dagster:3000/runs/abc-123", ledger_id=7, details={"attempts": 3, "partition": "2013-12-01"},
              failure_class="transient", days="2013-12-01", ledger_ids=(7, 8),
              hint="rekick with `batch-training rekick 7 8` once the DWH answers")


class Hook:
    """A webhook receiver on 127.0.0.1 that records requests and answers with scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # answered in order; 200 once they run out
        self.headers: dict[int, dict[str, str]] = {}
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = hook.statuses.pop(0) if hook.statuses else 200
                reply = b"ok" if status == 200 else b"invalid_payload"
                self.send_response(status)
                for key, value in hook.headers.get(status, {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/{TOKEN}?key=qs-secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def assert_no_secret(text: str) -> None:
    for secret in ("s3cr3t", "T0001", "/services", "qs-secret"):
        assert secret not in text


def test_webhook_posts_slack_compatible_json(hook):
    WebhookAlertSink(hook.url).send(ALERT)
    [req] = hook.requests
    assert req["path"] == f"/services/{TOKEN}?key=qs-secret"
    assert req["headers"]["Content-Type"] == "application/json; charset=utf-8"
    body = json.loads(req["body"])
    assert body["text"] == ("raw_flights 2013-12-01 failed 3 times\nconnection reset by the DWH &lt;db&gt; &amp; "
                            "gave up\nclass: transient\ndays: 2013-12-01\nrun: http://dagster:3000/runs/abc-123\n"
                            "ledger: #7, #8\nwhat to do: rekick with `batch-training rekick 7 8` once the DWH answers")
    assert body["batch_training"] == {"kind": "retries_exhausted", "spec": "flights_delay",
                                      "run_url": "http://dagster:3000/runs/abc-123", "ledger_id": 7,
                                      "ledger_ids": [7, 8], "failure_class": "transient", "days": "2013-12-01",
                                      "hint": "rekick with `batch-training rekick 7 8` once the DWH answers",
                                      "link": None, "details": {"attempts": 3, "partition": "2013-12-01"}}
    assert body["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": ALERT.title}}
    assert body["blocks"][1]["text"]["text"] == "connection reset by the DWH &lt;db&gt; &amp; gave up"
    context = [e["text"] for e in body["blocks"][2]["elements"]]
    assert "*run:* <http://dagster:3000/runs/abc-123|open in Dagster>" in context and "*ledger:* #7, #8" in context


def test_webhook_text_without_run_or_ledger(hook):
    WebhookAlertSink(hook.url).send(Alert(kind="model_stale", title="no new model for 3 days", text="",
                                          spec="tiny", run_url=None, ledger_id=None, details={}))
    body = json.loads(hook.requests[0]["body"])
    assert body["text"] == "no new model for 3 days"
    assert [b["type"] for b in body["blocks"]] == ["header", "context"]
    assert body["batch_training"]["run_url"] is None and body["batch_training"]["ledger_id"] is None


def test_webhook_retries_after_a_server_error(hook, caplog):
    hook.statuses = [500, 503]
    with caplog.at_level(logging.INFO, logger="batch_training.alerts"):
        WebhookAlertSink(hook.url, retries=3, backoff_s=0.01).send(ALERT)
    assert len(hook.requests) == 3
    assert len({r["body"] for r in hook.requests}) == 1  # the same alert each time
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) == 2 and "HTTP 500" in retries[0] and "HTTP 503" in retries[1]
    assert all(f"{redact_webhook(hook.url)}" in m for m in retries)
    assert_no_secret(caplog.text)


def test_webhook_honours_retry_after_on_429(hook, monkeypatch):
    from batch_training.operations import alerts as alerts_module

    waits: list[float] = []
    monkeypatch.setattr(alerts_module.time, "sleep", waits.append)  # the waits, recorded instead of slept
    hook.statuses = [429, 429]
    hook.headers[429] = {"Retry-After": "7"}
    WebhookAlertSink(hook.url, retries=2, backoff_s=60).send(ALERT)
    assert len(hook.requests) == 3
    assert waits == [7.0, 7.0]  # the server's Retry-After, not the sink's own 60 s backoff
    hook.requests.clear()
    hook.statuses, hook.headers[429] = [429], {"Retry-After": "3600"}
    waits.clear()
    WebhookAlertSink(hook.url, retries=1, backoff_s=60).send(ALERT)
    assert waits == [alerts_module.MAX_RETRY_AFTER_S]  # capped


def test_webhook_gives_up_without_showing_the_url(hook, caplog):
    hook.statuses = [500] * 10
    sink = WebhookAlertSink(hook.url, retries=2, backoff_s=0.01)
    with caplog.at_level(logging.DEBUG), pytest.raises(AlertError) as info:
        sink.send(ALERT)
    assert len(hook.requests) == 3
    message = str(info.value)
    port = hook.server.server_address[1]
    assert message == (f"alert webhook http://127.0.0.1:{port}/*** failed 3 times, "
                       "last: answered HTTP 500: invalid_payload")
    assert_no_secret("".join(traceback.format_exception(info.value)))  # no chained urllib error either
    assert_no_secret(caplog.text)
    assert_no_secret(repr(sink))


def test_webhook_does_not_retry_a_client_error(hook):
    hook.statuses = [404]
    with pytest.raises(AlertError, match="HTTP 404: invalid_payload; not retrying") as info:
        WebhookAlertSink(hook.url, backoff_s=0.01).send(ALERT)
    assert len(hook.requests) == 1
    assert_no_secret("".join(traceback.format_exception(info.value)))


def test_webhook_unreachable(caplog):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://user:pw-secret@127.0.0.1:{port}/services/{TOKEN}"
    with caplog.at_level(logging.DEBUG), pytest.raises(AlertError, match="failed 2 times, last: unreachable") as info:
        WebhookAlertSink(url, retries=1, backoff_s=0.01, timeout_s=2).send(ALERT)
    assert str(info.value).startswith(f"alert webhook http://127.0.0.1:{port}/*** ")
    for text in (str(info.value), caplog.text):
        assert_no_secret(text)
        assert "pw-secret" not in text


def test_redact_and_factory():
    assert redact_webhook(f"https://hooks.slack.com/services/{TOKEN}") == "https://hooks.slack.com/***"
    assert redact_webhook("https://u:p@example.org:8443/x?token=1") == "https://example.org:8443/***"
    assert redact_webhook("not a url") == "<unparsable URL>"
    with pytest.raises(ValueError) as info:
        WebhookAlertSink(f"ftp://example.org/{TOKEN}")
    assert "ftp://example.org/***" in str(info.value)
    assert_no_secret(str(info.value))
    assert isinstance(alert_sink("log", None), LogAlertSink)
    webhook = alert_sink("webhook", f"https://hooks.slack.com/services/{TOKEN}")
    assert isinstance(webhook, WebhookAlertSink) and webhook.redacted == "https://hooks.slack.com/***"
    with pytest.raises(ValueError, match="needs a URL"):
        alert_sink("webhook", None)
    with pytest.raises(ValueError, match="unknown alert sink 'pager'"):
        alert_sink("pager", None)
    assert Alert(kind="code_failure", title="t", text="x", spec="s").details == {}
    with pytest.raises(ValueError, match="unknown alert kind 'oops'"):
        Alert(kind="oops", title="t", text="x", spec="s", run_url=None, ledger_id=None, details={})


def test_log_sink_logs_one_warning_line(caplog):
    with caplog.at_level(logging.WARNING, logger="batch_training.alerts"):
        LogAlertSink().send(ALERT)
        LogAlertSink().send(Alert(kind="gate_rejected", title="candidate\nworse than champion", text="mae 14.1",
                                  spec="tiny", run_url=None, ledger_id=None, details={}))
    assert [(r.name, r.levelno) for r in caplog.records] == [("batch_training.alerts", logging.WARNING)] * 2
    assert [r.getMessage() for r in caplog.records] == [
        "alert retries_exhausted [flights_delay]: raw_flights 2013-12-01 failed 3 times | connection reset by the "
        "DWH <db> & gave up | class: transient | days: 2013-12-01 | run: http://dagster:3000/runs/abc-123 | "
        "ledger: #7, #8 | what to do: rekick with `batch-training rekick 7 8` once the DWH answers",
        "alert gate_rejected [tiny]: candidate worse than champion | mae 14.1",
    ]
