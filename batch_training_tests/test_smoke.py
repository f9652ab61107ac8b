"""The smoke test's parity rule against a stub prediction server (stdlib HTTP, canned predictions)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from batch_training.images.smoke import smoke_test


def _serve(predictions: list[float]):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/predict/batch":
                rows = json.loads(body)["rows"]
                self._answer(200, {"predictions": predictions[:len(rows)]})
            else:
                self._answer(422, {"detail": "malformed"}) if b"not a feature" in body else self._answer(200, predictions[0])

        def _answer(self, status: int, payload) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def stub():
    servers = []

    def start(predictions):
        servers.append(_serve(predictions))
        return f"http://127.0.0.1:{servers[-1].server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("served, passed", [
    ([1000.0001, 2.00005, -3.0], True),     # 1e-4 off a prediction of 1,000 is float32's last bits: within rtol
    ([1000.0, 2.0002, -3.0], False),        # 2e-4 off a prediction of 2 is not
    ([1000.05, 2.0, -3.0], False),          # 5e-2 off 1,000 is not either
])
def test_parity_allows_float32_rounding_relative_to_the_prediction(stub, served, passed):
    rows = [{"x": i} for i in range(3)]
    result = smoke_test(stub(served), rows, np.array([1000.0, 2.0, -3.0]), "regression",
                        single_requests=3, batch_requests=1)
    assert result.passed is passed, result.reasons
    assert result.rows_compared == 3 and result.malformed_status == 422
    assert result.max_abs_diff == pytest.approx(max(abs(a - b) for a, b in zip(served, [1000.0, 2.0, -3.0])))
    if not passed:
        assert "1 beyond 0.0001 + 1e-05 x |offline|" in result.reasons[0]
