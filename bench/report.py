"""Print the benchmark's figures (absolute values with ratios beside them) and its targets table."""

from __future__ import annotations

from bench.scaling import per_row_growth


def _v(f: dict) -> float:
    return f["value"]


def print_extraction(ex: dict) -> None:
    print(f"\nExtraction from PostgreSQL: {ex['table']} {ex['first_day']}..{ex['last_day']}, "
          f"best of {ex['rounds']} interleaved rounds (extract_days chunk = {ex['chunk_days']} days)")
    slow = [f"{name} best of {n}" for name, n in ex["rounds_of"].items() if n != ex["rounds"]]
    if slow:
        print(f"  ({', '.join(slow)}, to keep the benchmark short)")
    print(f"  {'method':<26} {'best s':>8} {'median s':>9} {'rows':>10} {'rows/s':>12} {'x COPY best':>12} "
          f"{'median':>7} {'worst':>6}")
    for name, m in ex["methods"].items():
        print(f"  {name:<26} {_v(m['best']):>8.3f} {_v(m['median']):>9.3f} {_v(m['rows']):>10} {_v(m['rows_per_s']):>12,.0f} "
              f"{_v(m['ratio_to_raw_copy']):>12.2f} {_v(m['median_ratio_to_raw_copy']):>7.2f} "
              f"{_v(m['worst_ratio_to_raw_copy']):>6.2f}")
    split = ex["diag_split_by_day_whole_range"]
    print(f"  {'diag_split_by_day':<26} {_v(split):>8.3f} {split['rows']:>10} {'':>12} {split['ratio_to_raw_copy']:>11.2f}"
          "  (split of the whole range alone)")


def print_cleansing(cl: dict) -> None:
    print(f"\nCleansing (flagship contract), {_v(cl['rows'])} rows, {_v(cl['days'])} days; Arrow pool {cl['arrow_pool']}")
    for label, key in (("as the pipeline runs it", "pipeline"), ("whole year, one plain table", "whole_year"),
                       ("one call a day (before)", "per_day")):
        part = cl[key]
        print(f"  {label:<28} best {_v(part['best']):>7.3f} s, median {_v(part['median']):>7.3f} s of {len(part['all'])}: "
              f"{_v(part['rows_per_s']):>11,.0f} rows/s (median {_v(part['rows_per_s_median']):>11,.0f}; "
              f"{_v(part['rows_per_s']) / 2e6:.2f} x the 2M target), {part['calls']} call(s), "
              f"{_v(part['ms_per_call']):.2f} ms a call")
    print(f"  one call a day / the pipeline's batches: {_v(cl['per_day_vs_pipeline']):.1f} x the time")
    for label, key in (("pipeline", "pipeline"), ("per day", "per_day")):
        prof, kern = cl[f"profile_{key}"], cl[f"kernels_{key}"]
        steps = ", ".join(f"{r['function']} {r['cumtime_s']:.2f}" for r in prof["contract_steps"])
        print(f"  {label}: cProfile {prof['profiled_total_s']:.2f} s; contract steps (cumulative s): {steps}")
        print(f"    {kern['calls_into_pyarrow_compute']} calls into pyarrow.compute: {kern['in_pyarrow_compute_s']:.2f} s "
              f"of {kern['total_s']:.2f} s ({kern['in_pyarrow_compute_s'] / kern['total_s']:.0%}); "
              f"outside (Python, numpy, Array.cast/Table methods): {kern['outside_pyarrow_compute_s']:.2f} s")
        print("    top: " + ", ".join(f"{r['function']} {r['seconds']:.2f} s/{r['calls']}" for r in kern["top"][:6]))
        print("    top self time (cProfile): " + ", ".join(
            f"{r['function']} ({r['where']}) {r['tottime_s']:.2f}" for r in prof["top_self_time"][:5]))


def print_backfill(bf: dict, label: str = "on the embedded default (DuckDB DWH, SQLite instance)") -> None:
    ingest = bf["ingest_wall"]
    print(f"\nFull-year single-run backfill {label}, as subprocesses; event settings: {bf.get('event_settings')}")
    print(f"  batch-training seed                 {_v(bf['seed_wall']):>7.2f} s")
    print(f"  batch-training ingest (2013, 1 run) {_v(ingest):>7.2f} s  "
          f"{'succeeded' if ingest['succeeded'] else 'FAILED'}  ({_v(bf['ingest_over_core']):.2f} x the core work)")
    core = bf["core_without_dagster"]
    print(f"  core work without Dagster           {_v(core):>7.2f} s  ({_v(bf['core_share_of_ingest']):.1%} of the ingest)")
    print("    " + ", ".join(f"{k} {v:.2f} s" for k, v in core["parts_s"].items()))
    print(f"  bare start-up (imports+definitions) {_v(bf['startup_imports_and_definitions']):>7.2f} s")
    print(f"  Dagster run + event log overhead    {_v(bf['dagster_run_overhead']):>7.2f} s  (ingest - core - start-up)")
    tl = bf["run_timeline"]
    kinds = ", ".join(f"{k} {v}" for k, v in list((tl["events"].get("by_type") or {}).items())[:3])
    print(f"  the run's own timeline: creating it {_v(tl['creating_the_run']):.2f} s, executing it "
          f"{_v(tl['executing_the_run']):.2f} s; {_v(tl['events'])} events written ({kinds}, ...)")
    for line in bf["ingest_output"]:
        print(f"  | {line}")


def print_increment(inc: dict) -> None:
    print(f"\nDaily increment on the embedded default: ingest {inc['new_day']}, then train, evaluate, bundle and "
          f"promote as of {inc['as_of']} (subprocesses, start-up included)")
    for part in ("ingest", "train"):
        run = inc[part]["run"]
        print(f"  {part:<6} {_v(inc[part]['wall']):>7.2f} s wall; run executing {run.get('execution_s', float('nan')):.2f} s, "
              f"created in {run.get('create_to_start_s', float('nan')):.2f} s")
        for step, seconds in sorted((run.get("steps_s") or {}).items(), key=lambda kv: -kv[1]):
            print(f"           {seconds:>7.2f} s  {step}")
    print(f"  total  {_v(inc['total']):>7.2f} s  (target <= 90 s); {'promoted' if inc['promoted'] else 'NOT promoted'}")


def print_scaling(sc: dict) -> None:
    print("\nScaling (fresh process per scale; extract every day chunked and write it raw, then cleanse the raw "
          "days in batches as the cleanse step does)")
    print(f"  {'scale':<6} {'rows':>9} {'extract s':>10} {'x1x':>6} {'cleanse s':>10} {'x1x':>6} "
          f"{'peak RSS':>9} {'above base':>11} {'x1x':>6} {'arrow peak':>11} {'chunk':>8} {'table':>8}")
    for scale, r in sc.items():
        print(f"  {scale:<6} {_v(r['rows']):>9} {_v(r['extract']):>10.2f} {r['extract']['ratio_to_1x']:>6.2f} "
              f"{_v(r['cleanse']):>10.2f} {r['cleanse']['ratio_to_1x']:>6.2f} {_v(r['peak_rss']):>6.0f} MiB "
              f"{_v(r['peak_rss_above_baseline']):>7.0f} MiB {r['peak_rss_above_baseline']['ratio_to_1x']:>6.2f} "
              f"{_v(r['arrow_pool_peak']):>7.1f} MiB {_v(r['largest_chunk']):>4.1f} MiB {_v(r['whole_table_arrow']):>4.0f} MiB")
    print("  (rows ratio " + ", ".join(f"{s} {_v(r['rows_ratio_to_1x']):.2f}" for s, r in sc.items())
          + "; RSS after imports " + ", ".join(f"{_v(r['baseline_rss']):.0f}" for r in sc.values())
          + " MiB, after connecting " + ", ".join(f"{_v(r['connected_rss']):.0f}" for r in sc.values()) + " MiB;"
          + " chunk/table = Arrow size of the largest extract chunk / of every day together)")


def targets(results: dict) -> list[dict]:
    rows = []

    def add(name, value, unit, target, op, note=""):
        met = None if value is None else (value <= target if op == "<=" else value >= target)
        shown = f"{target / 1e6:g}M" if target >= 1e6 else f"{target:g}"
        rows.append({"figure": name, "value": value, "unit": unit, "target": f"{op} {shown}",
                     "ratio_to_target": None if value is None else round(value / target, 3), "met": met,
                     "note": note})

    ex = results.get("extraction")
    for method, note in (("ours_extract_days", "as the raw asset extracts"), ("ours_read_between", "one query over the range")):
        m = (ex or {}).get("methods", {}).get(method)
        add(f"extraction {method[5:]} / raw COPY", None if not m else _v(m["ratio_to_raw_copy"]), "x", 1.2, "<=",
            f"best round; {note}")
        add(f"extraction {method[5:]} / COPY, median", None if not m else _v(m["median_ratio_to_raw_copy"]), "x", 1.2,
            "<=", "median of the rounds' ratios")
    cl = results.get("cleansing")
    add("cleansing as the pipeline runs it", None if not cl else _v(cl["pipeline"]["rows_per_s"]), "rows/s", 2e6, ">=")
    add("cleansing, median round", None if not cl else _v(cl["pipeline"]["rows_per_s_median"]), "rows/s", 2e6, ">=")
    for key, label, target in (("backfill", "embedded default", 20), ("backfill_postgres", "PostgreSQL stack", 10)):
        bf = results.get(key)
        add(f"full-year backfill, {label}", None if not bf else _v(bf["ingest_wall"]), "s", target, "<=",
            "one run of both tables, checks and start-up included" if not bf else
            f"{_v(bf['ingest_over_core']):.2f}x the core work alone")
        if bf and not bf["ingest_wall"]["succeeded"]:
            rows[-1].update(met=False, note="the run FAILED")
    inc = results.get("daily_increment")
    add("daily increment end to end", None if not inc else _v(inc["total"]), "s", 90, "<=",
        "ingest one day, then train, evaluate, bundle, promote")
    sv = results.get("serving") or {}
    for name, key, target in (("serving single row p99", "single", 5), ("serving 1000-row batch p99", "batch_1000", 20)):
        value = (sv.get(key) or {}).get("p99_ms")
        add(name, value, "ms", target, "<=", "HTTP on loopback, median of rounds")
    sc = results.get("scaling")
    for scale in ("3x", "10x"):
        for key in ("extract", "cleanse"):
            add(f"{key} time per row {scale} / 1x", per_row_growth(sc, key, scale) if sc and scale in sc else None,
                "x", 1.25, "<=", "linear growth")
    ten = (sc or {}).get("10x")
    add("peak RSS above baseline 10x / 1x", None if not ten else ten["peak_rss_above_baseline"]["ratio_to_1x"], "x", 1.5, "<=",
        "memory bounded by a chunk")
    return rows


def print_targets(rows: list[dict]) -> None:
    print(f"\n{'figure':<38} {'value':>14} {'target':>14} {'ratio':>7}  result")
    for r in rows:
        value = "not measured" if r["value"] is None else (
            f"{r['value']:,.0f} {r['unit']}" if r["unit"] == "rows/s" else f"{r['value']:.2f} {r['unit']}")
        result = "not measured" if r["met"] is None else "met" if r["met"] else "MISSED"
        ratio = "" if r["ratio_to_target"] is None else f"{r['ratio_to_target']:.2f}"
        print(f"{r['figure']:<38} {value:>14} {r['target'] + ' ' + r['unit']:>14} {ratio:>7}  {result}"
              + (f" ({r['note']})" if r["note"] else ""))
