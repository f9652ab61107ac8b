"""``python -m server --bundle DIR [--host 127.0.0.1] [--port 8080]``: one uvicorn worker.

It binds to loopback unless told otherwise; the image's CMD passes ``--host 0.0.0.0`` because a
container's loopback cannot be reached from outside it.
"""

import argparse
import gc
from pathlib import Path

import uvicorn

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m server", description="Serve a model bundle over HTTP.")
    parser.add_argument("--bundle", type=Path, default=Path("."), help="the bundle folder (default: here)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--max-body-bytes", type=int, default=4 * 1_048_576)
    parser.add_argument("--max-batch-rows", type=int, default=10_000,
                        help="rows a batch may hold; a longer one is refused (422) before any row is checked")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads per request")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    app = create_app(args.bundle, max_body_bytes=args.max_body_bytes, max_batch_rows=args.max_batch_rows,
                     threads=args.threads)
    # The web stack's ~60k objects live as long as the process: frozen, out of the collector's
    # sight, a full collection no longer walks them (~50 ms, a pause that fell on whichever request
    # was running; ~1 ms now for what requests leave behind).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=args.host, port=args.port, workers=1, log_level=args.log_level)


if __name__ == "__main__":
    main()
