"""End to end through a browser: ``ops.stack.up`` starts the production-shaped stack (its own
PostgreSQL, the Dagster webserver and daemon) in a temporary BATCH_TRAINING_HOME; headless Chromium
clicks through the UI; ``down`` stops it and no process is left behind.

Screenshots of every step go to ``test-artifacts/ui/``. Run statuses are read over GraphQL.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pyarrow.parquet as pq
import pytest

from batch_training.stack import control, databases
from batch_training_tests.support import browser as ui
from batch_training_tests.support import flights
from batch_training_tests.support import stack as support_stack

pytestmark = pytest.mark.ui

SPEC = flights.NAME
INGEST_JOB, TRAIN_JOB = f"{SPEC}__ingest", f"{SPEC}__train"
FIRST, LAST = flights.FIRST.isoformat(), flights.LAST.isoformat()
AS_OF = (flights.LAST + timedelta(days=1)).isoformat()
# Failures are relaunched at once and steps do not retry, so a transient failure shows quickly.
# The spec is the flights spec on a few weeks (support.flights): its first as-of day is 2013-01-12, so
# the recovered ingest of an earlier day below trains nothing.
STACK_ENV = {"BATCH_TRAINING_RELAUNCH_BACKOFF_S": "0", "BATCH_TRAINING_RETRY_MAX": "0",
             "BATCH_TRAINING_RECOVERY_INTERVAL_S": "10"}


@pytest.fixture(scope="module")
def running_stack():
    """The stack, up once for this module's tests; always taken down, checked for leftovers."""
    support_stack.require(ui.chromium_missing(), "the browser tests")
    with support_stack.running_stack(STACK_ENV, prefix="bt-ui-stack-") as up:
        yield up


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = ui.launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(running_stack, chromium):
    state, _ = running_stack
    page = ui.new_page(chromium, state["ui_url"])
    try:
        yield page
    finally:
        page.context.close()


def test_catalog_lists_the_ingest_assets_and_a_day_materializes_from_the_ui(running_stack, page):
    state, home = running_stack
    day = "2013-01-05"

    # a. the group's lineage shows the ingest assets; their asset pages list the checks
    ui.open_group_lineage(page, SPEC)
    for name in ("raw", "cleansed", "quarantine"):
        ui.graph_node(page, name).wait_for(state="visible")
    ui.screenshot(page, "01_group_lineage")
    said: list[str] = []
    assert control.up(control.layout(home).home, echo=said.append) == state  # already up: nothing started
    assert said[0].startswith(f"already up: {state['ui_url']}")
    ui.open_asset(page, f"{SPEC}/raw", tab="Checks")
    ui.check_names(page, ["schema_drift", "not_empty"])
    ui.screenshot(page, "02_raw_checks")
    ui.open_asset(page, f"{SPEC}/cleansed", tab="Checks")
    ui.check_names(page, ["quarantine_rate", "duplicates"])
    ui.screenshot(page, "03_cleansed_checks")

    # b. one day of raw + cleansed + quarantine, launched by clicking through the ingest job's dialog
    ui.open_job(page, INGEST_JOB)
    dialog = ui.open_materialize_dialog(page, day)
    ui.screenshot(page, "04_materialize_one_day")
    run_id = ui.launch_from_dialog(page, dialog)

    # c. the run succeeds
    assert ui.wait_for_run(state["ui_url"], run_id) == "SUCCESS"
    run = ui.runs(state["ui_url"], run_id=run_id)[0]
    assert run["jobName"] == INGEST_JOB and run["tags"]["dagster/partition"] == day
    ui.open_run(page, run_id, last_event="RUN_SUCCESS")
    ui.expect_texts(page, ["Success", f"partition: {day}"])
    ui.screenshot(page, "05_run_succeeded")

    # d. the cleansed asset's page shows that day's metadata
    ui.open_partition(page, f"{SPEC}/cleansed", day)
    ui.expect_texts(page, ["rows_clean", "rows_quarantined", "quarantine_reasons"])
    data = home / "data" / SPEC
    clean, quarantined = (pq.read_metadata(data / part / f"{day}.parquet").num_rows for part in ("cleansed", "quarantine"))
    assert ui.metadata_row(page, "rows_clean") == f"rows_clean {clean}"
    assert ui.metadata_row(page, "rows_quarantined") == f"rows_quarantined {quarantined}"
    ui.screenshot(page, "06_cleansed_partition_metadata")


@pytest.mark.timeout(900)
def test_a_transient_dwh_outage_is_relaunched_as_a_backfill_by_the_recovery_sensor(running_stack, page):
    state, home = running_stack
    base, day = state["ui_url"], "2013-01-08"
    server = databases.local_server(control.layout(home).stack, control.layout(home).log("postgres"))

    support_stack.set_connections(server, "dwh", allowed=False)  # the DWH is down: it refuses connections
    try:
        ui.open_job(page, INGEST_JOB)
        run_id = ui.launch_from_dialog(page, ui.open_materialize_dialog(page, day))
        assert ui.wait_for_run(base, run_id) == "FAILURE"
        assert ui.runs(base, run_id=run_id)[0]["tags"]["dagster/partition"] == day
    finally:
        support_stack.set_connections(server, "dwh", allowed=True)  # back before the relaunch reaches it
    ui.open_run(page, run_id, last_event="RUN_FAILURE")
    ui.filter_run_events(page, "type:STEP_FAILURE")
    ui.expect_texts(page, ['is not currently accepting connections'], exact=False)
    ui.screenshot(page, "11_run_failed_dwh_down")

    # the daemon's recovery sensor (on in production) relaunches exactly that day as an asset backfill,
    # whose one run succeeds
    recovery = {"batch_training/trigger": "recovery", "dagster/asset_partition_range_end": day}
    reruns = ui.wait_for_runs(base, lambda: ui.runs(base, tags=recovery), timeout=420)
    assert [r["status"] for r in reruns] == ["SUCCESS"], reruns
    rerun = reruns[0]["tags"]
    assert rerun.get("dagster/sensor_name") == "recovery" and rerun["dagster/asset_partition_range_start"] == day
    backfill_id = rerun["dagster/backfill"]

    def finished():
        [found] = [b for b in ui.backfills(base) if b["id"] == backfill_id]
        return [found] if found["status"] == "COMPLETED_SUCCESS" else None

    ui.wait_for_runs(base, finished, timeout=180, finished=False)
    ui.open_backfills(page)  # Runs -> Backfills lists it
    ui.expect_texts(page, [backfill_id, "batch_training/trigger: recovery"])
    ui.screenshot(page, "12_recovery_backfill_listed")
    rows = ui.open_backfill(page, backfill_id)  # its partition grid: every asset of the day green
    assert sorted(r.split(" 100% completed ")[0].split(" flights_delay / ")[0] for r in rows) == sorted(
        f"flights_delay / {a}" for a in ("raw", "cleansed", "quarantine", "weather / raw", "weather / cleansed",
                                         "weather / quarantine")), rows
    assert all(r.endswith("100% completed 1 0 1 0") for r in rows), rows  # targeted, in progress, succeeded, failed
    ui.screenshot(page, "13_recovery_backfill_partitions")

    def resolved():
        _, seen = ui.asset_events(base, "flights_delay/raw", [day])
        return [o for o in seen if o.get("ledger_status") == "resolved"] or None

    ui.wait_for_runs(base, resolved, timeout=120, finished=False)
    ui.open_partition(page, "flights_delay/raw", day)  # the ledger's status on the partition itself
    assert ui.metadata_row(page, "ledger_status") == "ledger_status resolved"
    assert ui.metadata_row(page, "backfill_id") == f"backfill_id {backfill_id}"
    ui.screenshot(page, "14_ledger_status_on_the_partition")


@pytest.mark.timeout(900)
def test_the_training_chain_runs_from_the_ui_and_its_report_shows_the_plots(running_stack, page):
    state, home = running_stack
    base = state["ui_url"]

    # the cleansed days first, in one range run (set-up: launched over GraphQL as a script would)
    ingest = ui.launch_run(base, INGEST_JOB, tags={"dagster/asset_partition_range_start": FIRST,
                                                   "dagster/asset_partition_range_end": LAST})
    assert ui.wait_for_run(base, ingest, timeout=420) == "SUCCESS", ui.failures(base, ingest)

    # train, evaluate, bundle, smoke-test and promote as of one day, by clicking the train job's dialog
    ui.open_job(page, TRAIN_JOB)
    dialog = ui.open_materialize_dialog(page, AS_OF)
    ui.screenshot(page, "21_train_as_of_one_day")
    run_id = ui.launch_from_dialog(page, dialog)
    assert ui.wait_for_run(base, run_id, timeout=600) == "SUCCESS", ui.failures(base, run_id)
    assert ui.runs(base, run_id=run_id)[0]["tags"]["dagster/partition"] == AS_OF
    ui.open_run(page, run_id, last_event="RUN_SUCCESS")
    ui.screenshot(page, "22_training_run_succeeded")

    # the evaluation report's partition: its gate passed, and its Markdown report shows the plots
    report = json.loads((home / "data" / SPEC / "evaluation_report" / AS_OF / "report.json").read_text())
    ui.open_partition(page, f"{SPEC}/evaluation_report", AS_OF)
    assert ui.metadata_row(page, "gate_passed") == "gate_passed true"
    assert ui.metadata_row(page, "rows_evaluated") == f"rows_evaluated {report['candidate']['n']}"
    ui.screenshot(page, "23_evaluation_report_partition")
    plots = ui.open_markdown(page, "report")
    ui.expect_texts(page, [f"Evaluation: {SPEC} as of {AS_OF}", "Decision: PASSED",
                           f"rows_train: {report['data']['rows_train']}"], exact=False)
    names = sorted(p.name for p in (home / "data" / SPEC / "evaluation_report" / AS_OF).glob("*.png"))
    assert len(names) == 3 and ui.rendered_images(plots) == names  # each plot file is drawn, none broken
    plots.get_by_role("img", name=names[0]).scroll_into_view_if_needed()
    ui.screenshot(page, "24_evaluation_report_plots")
