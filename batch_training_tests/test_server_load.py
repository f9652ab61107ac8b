"""The real server process under hostile batches: it keeps answering, and its error replies stay small.

Asserted on behaviour only (every probe answers within a generous client timeout), never on measured
latency: timings belong to ``bench/serving.py``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from batch_training.ports import free_port
from batch_training_tests.test_serving import _offline, flights  # noqa: F401 (a fixture)

BODY_LIMIT = 4 * 1_048_576
PROBE_TIMEOUT_S = 2.0


@contextlib.contextmanager
def _server(bundle, log_path, *args: str):
    """``python -m server`` from the bundle folder on a free loopback port, until ready; its base URL."""
    port = free_port()
    log = open(log_path, "wb")  # a file, not a pipe nobody drains
    proc = subprocess.Popen([sys.executable, "-m", "server", "--bundle", ".", "--port", str(port), *args],
                            cwd=bundle, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{base}/ready"):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def _post(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def _bad_rows_body(row: dict) -> tuple[bytes, int]:
    """As many rows as fit just under the body limit, each with one bad field (a number as text)."""
    item = json.dumps(dict(row, distance="x"), separators=(",", ":")).encode()
    n = (BODY_LIMIT - 64) // (len(item) + 1)
    return b'{"rows":[' + b",".join([item] * n) + b"]}", n


def test_the_server_answers_while_hostile_batches_are_in_flight(flights, tmp_path):  # noqa: F811
    empty = b'{"rows": [' + b",".join([b"{}"] * 1_300_000) + b"]}"   # 3.7 MiB, over any row limit
    bad, n_bad = _bad_rows_body(flights.rows[2])
    assert len(empty) < BODY_LIMIT and len(bad) < BODY_LIMIT
    row = flights.rows[0]
    single = json.dumps(row).encode()
    # Rows enough for the bad body, so that all of its rows are checked; the empty rows stay over it.
    with _server(flights.bundle, tmp_path / "server.log", "--max-batch-rows", str(n_bad)) as base:
        replies: list[tuple[int, bytes]] = []

        def hostile() -> None:
            for body in (empty, bad, empty, bad):
                replies.append(_post(f"{base}/predict/batch", body, timeout=120))

        sender = threading.Thread(target=hostile)
        sender.start()
        probes = 0
        while sender.is_alive() or probes < 3:
            with urllib.request.urlopen(f"{base}/health", timeout=PROBE_TIMEOUT_S) as r:
                assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}
            status, answer = _post(f"{base}/predict", single, timeout=PROBE_TIMEOUT_S)
            assert status == 200, answer
            probes += 1
        sender.join()

    assert abs(json.loads(answer)["prediction"] - _offline(flights, [row])[0]) < 1e-4
    assert [status for status, _ in replies] == [422] * 4
    for i, (_, raw) in enumerate(replies):
        assert len(raw) < 64 * 1024, len(raw)
        reply = json.loads(raw)
        if i % 2 == 0:  # refused on its length, before any row is checked
            assert reply["errors_total"] == 1 and reply["detail"][0]["type"] == "too_long"
            assert reply["detail"][0]["ctx"]["actual_length"] == 1_300_000
        else:  # every row checked, every error counted, the first 20 listed
            assert reply["errors_total"] == n_bad and len(reply["detail"]) == 20
            assert reply["detail"][0]["loc"] == ["body", "rows", 0, "distance"]
            assert reply["detail"][0]["type"] == "float_type"
