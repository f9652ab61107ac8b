"""``make bench``: the ingest benchmarks (bench.ingest), the training benchmarks (bench.train) and the
serving benchmarks (bench.serving), each printed as it goes; all figures end up in ``bench/results.json``."""

import json
import sys

from bench import ingest, report, serving, train


def main() -> int:
    status = ingest.main()
    print("\n== training ==")
    training = train.main()
    print("\n== serving ==")
    served = serving.main()
    results = json.loads(ingest.RESULTS.read_text()) if ingest.RESULTS.exists() else {}
    results["training"] = training
    results["serving"] = served
    results["targets"] = report.targets(results)
    report.print_targets(results["targets"])
    ingest.RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
