"""``make bench``: the ingest benchmarks (bench.ingest), then the training benchmarks (bench.train),
each printed as it goes; all figures end up in ``bench/results.json``."""

import json
import sys

from bench import ingest, train


def main() -> int:
    status = ingest.main()
    print("\n== training ==")
    training = train.main()
    results = json.loads(ingest.RESULTS.read_text()) if ingest.RESULTS.exists() else {}
    results["training"] = training
    ingest.RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
