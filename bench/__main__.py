"""``make bench``: the ingest benchmarks (bench.ingest), the training benchmarks (bench.train, and
bench.distributed: 1 and 2 processes side by side), the
serving benchmarks (bench.serving) and monitoring (bench.monitoring), each printed as it goes, then
the targets; all figures end up in ``bench/results.json``."""

import json
import sys

from bench import distributed, ingest, monitoring, report, serving, train


def main() -> int:
    status = ingest.main()
    print("\n== training ==")
    training = train.main()
    print("\n== training in 1 and 2 processes ==")
    training["distributed"] = distributed.main()
    print("\n== serving ==")
    served = serving.main()
    print("\n== monitoring ==")
    watched = monitoring.main()
    results = json.loads(ingest.RESULTS.read_text()) if ingest.RESULTS.exists() else {}
    results["training"] = training
    results["serving"] = served
    results["monitoring"] = watched
    results["targets"] = report.targets(results)
    report.print_targets(results["targets"])
    ingest.RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
