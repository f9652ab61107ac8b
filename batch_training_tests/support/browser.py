"""Driving the Dagster UI (1.13) with headless Chromium through Playwright, as a person would click.

The browser is Debian's ``/usr/bin/chromium`` (``playwright install`` cannot download browsers
here). Selectors were found by inspecting the pages (roles and visible text); they live here, each
behind a name that says what a person does, so a UI change is fixed in one place.
Run statuses are read over GraphQL (the data the UI shows); everything else goes through the page.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import quote

from batch_training.stack import health

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
LOCATION = "batch_training"
TIMEOUT_MS = 60_000  # a loaded 2-core machine renders the asset graph slowly
# The UI's "Join the Dagster community" dialog shows on localhost until dismissed (CommunityNux.tsx);
# the flag it stores when dismissed keeps it away, so no step has to click it away.
NO_COMMUNITY_DIALOG = "window.localStorage.setItem('communityNux', JSON.stringify('1'));"
TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    return None


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def new_page(browser, base_url: str):
    """A fresh context (no cookies or storage from another test) on the stack's UI."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1400, "height": 900})
    context.add_init_script(NO_COMMUNITY_DIALOG)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def screenshot(page, name: str) -> Path:
    """Save the page as ``test-artifacts/ui/<name>.png`` (for a person to look at)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def _visible_text(page, text: str, exact: bool = True):
    return page.get_by_text(text, exact=exact).first


def expect_texts(page, texts: list[str], exact: bool = True) -> None:
    """Wait until each text is visible on the page (fails with the missing one)."""
    for text in texts:
        _visible_text(page, text, exact).wait_for(state="visible")


# -- asset catalog and lineage -----------------------------------------------------------------
def open_group_lineage(page, group: str) -> None:
    """The lineage graph of one asset group (Catalog → group → Lineage)."""
    page.goto(f"/asset-groups/{group}@{LOCATION}:{LOCATION}/lineage")
    page.get_by_role("button", name="Materialize all…").wait_for()


def graph_node(page, asset_name: str):
    """The asset's box in the lineage graph (the graph renders each name in an SVG node)."""
    return page.locator("svg").get_by_text(asset_name, exact=True).first


def open_asset(page, key: str, tab: str | None = None) -> None:
    """An asset's page (``key`` like ``flights_delay/raw``), optionally one of its tabs."""
    page.goto(f"/assets/{key}")
    page.get_by_role("tab", name="Overview").wait_for()
    if tab:
        page.get_by_role("tab", name=tab).click()


def check_names(page, names: list[str]) -> None:
    """On an asset's Checks tab: each named check is listed."""
    page.get_by_text("Checks (", exact=False).first.wait_for()
    expect_texts(page, names)


def open_partition(page, key: str, partition: str) -> None:
    """An asset's Partitions tab, then one partition clicked in its list."""
    open_asset(page, key, tab="Partitions")
    page.get_by_placeholder("Filter by name").fill(partition)
    # the last match: the first and last partitions are also the labels of the range bar above the list
    page.get_by_text(partition, exact=True).filter(visible=True).last.click()
    page.get_by_text("Latest materialization", exact=True).first.wait_for()


def metadata_row(page, key: str) -> str:
    """The text of the metadata table's row for ``key`` (key, value) on an asset or partition page."""
    row = page.get_by_role("row").filter(has=page.get_by_text(key, exact=True)).first
    row.wait_for()
    return " ".join(row.inner_text().split())


def open_markdown(page, key: str):
    """Open the Markdown of the metadata row ``key`` (the row has a "[Show Markdown]" link; the UI
    renders the Markdown in a dialog, data-URI images included); the dialog."""
    row = page.get_by_role("row").filter(has=page.get_by_text(key, exact=True)).first
    row.get_by_text("Show Markdown", exact=False).click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    return dialog


def rendered_images(scope) -> list[str]:
    """Alt texts of the ``data:image/png`` images in ``scope`` that the browser decoded and drew
    (a broken or blocked image has no natural width), sorted; waits until each has loaded."""
    images = scope.locator('img[src^="data:image/png"]')
    images.first.wait_for()
    return sorted(images.evaluate_all(
        "els => Promise.all(els.map(e => e.decode().then(() => e.naturalWidth > 0 ? e.alt : null, () => null)))"
    ) or [])


# -- launching ---------------------------------------------------------------------------------
def open_job(page, job: str) -> None:
    page.goto(f"/locations/{LOCATION}/jobs/{job}")
    page.get_by_role("button", name="Materialize all…").wait_for()


def open_materialize_dialog(page, partition: str):
    """On a job's (or group's) asset graph: Materialize all… → Custom partitions → one day.
    Returns the dialog, ready to launch."""
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Partition selection").wait_for()
    box = dialog.get_by_role("textbox").first
    box.fill(partition)
    box.press("Enter")
    dialog.get_by_text("1 partition", exact=True).wait_for()
    return dialog


def _run_links(page) -> set[str]:
    return {href for href in page.locator('a[href^="/runs/"]').evaluate_all("els => els.map(e => e.getAttribute('href'))")}


def launch_from_dialog(page, dialog, timeout: float = TIMEOUT_MS / 1000) -> str:
    """Click "Launch 1 run"; the run id, from the link to the new run that the confirmation toast
    adds (the page may already link to earlier runs, e.g. the job's latest materialization)."""
    before = _run_links(page)
    dialog.get_by_role("button", name="Launch 1 run").click()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = _run_links(page) - before
        if new:
            return new.pop().rsplit("/", 1)[-1]
        page.wait_for_timeout(200)
    raise AssertionError("no link to the launched run appeared")


def open_run(page, run_id: str, last_event: str | None = None) -> None:
    """A run's page; with ``last_event`` (e.g. ``RUN_SUCCESS``), once its event log shows that event."""
    page.goto(f"/runs/{run_id}")
    page.get_by_text(run_id[:8], exact=True).first.wait_for()
    if last_event:
        page.get_by_text(last_event, exact=True).first.wait_for()


def filter_run_events(page, query: str) -> None:
    """Type a query (e.g. ``type:STEP_FAILURE``) into a run page's event filter."""
    box = page.get_by_placeholder("Filter…")
    box.fill(query)
    box.press("Enter")


def open_runs_with_tag(page, key: str, value: str) -> None:
    """The Runs page filtered by a tag (as the filter box would set it)."""
    page.goto(f"/runs?q%5B0%5D={quote(f'tag:{key}={value}', safe='')}")
    page.get_by_role("columnheader", name="Status").or_(page.get_by_text("Status", exact=True)).first.wait_for()


def open_backfills(page) -> None:
    """Runs → Backfills: every backfill, with its target and who launched it."""
    page.goto("/runs?tab=backfills")
    page.get_by_role("tab", name="Backfills").wait_for()


def open_backfill(page, backfill_id: str) -> list[str]:
    """A backfill's page: its partition status per asset, one row each; the rows' texts
    ("flights_delay / raw 100% completed 1 0 1 0": targeted, in progress, succeeded, failed)."""
    page.goto(f"/runs/b/{backfill_id}")
    rows = page.locator('[class*="VirtualizedTable_row"]').filter(has=page.get_by_text("completed", exact=False))
    rows.first.wait_for()
    return [" ".join(r.split()) for r in rows.all_inner_texts()]


# -- run status (GraphQL: the data behind the run page) ----------------------------------------
RUNS_QUERY = """
query Runs($filter: RunsFilter) { runsOrError(filter: $filter, limit: 50) {
  __typename ... on Runs { results { runId jobName status tags { key value } } } } }
"""


LAUNCH_MUTATION = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }
"""


def launch_run(base_url: str, job: str, tags: dict[str, str] | None = None) -> str:
    """Launch a job of the code location over GraphQL (as a script would); the run id."""
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": job},
              "runConfigData": {}, "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}}
    data = health.graphql(base_url, LAUNCH_MUTATION, {"params": params})["launchRun"]
    assert data["__typename"] == "LaunchRunSuccess", data
    return data["run"]["runId"]


def runs(base_url: str, tags: dict[str, str] | None = None, run_id: str | None = None) -> list[dict]:
    run_filter: dict = {}
    if tags:
        run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    if run_id:
        run_filter["runIds"] = [run_id]
    data = health.graphql(base_url, RUNS_QUERY, {"filter": run_filter})["runsOrError"]
    assert data["__typename"] == "Runs", data
    return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in data["results"]]


FAILURES_QUERY = """
query Failures($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { eventConnection(afterCursor: null) {
  events { __typename ... on ExecutionStepFailureEvent { stepKey error { message } }
           ... on RunFailureEvent { message } } } } } }
"""


def failures(base_url: str, run_id: str) -> list[str]:
    """The step and run failure messages of a run (for an assertion's message)."""
    data = health.graphql(base_url, FAILURES_QUERY, {"runId": run_id})["runOrError"]
    events = (data.get("eventConnection") or {}).get("events") or []
    return [f"{e.get('stepKey') or 'run'}: {(e.get('error') or {}).get('message') or e.get('message')}"
            for e in events if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent")]


def wait_for_run(base_url: str, run_id: str, timeout: float = 300.0) -> str:
    """Poll until the run is finished; its final status."""
    return wait_for_runs(base_url, lambda: runs(base_url, run_id=run_id), timeout)[0]["status"]


def wait_for_runs(base_url: str, fetch, timeout: float, finished: bool = True) -> list[dict]:
    """Poll ``fetch()`` until it returns runs (all finished, if ``finished``); those runs."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        try:
            found = fetch()
        except health.NotReady:
            found = []
        if found and (not finished or all(r["status"] in TERMINAL for r in found)):
            return found
        time.sleep(2.0)
    raise AssertionError(f"no finished run within {timeout:.0f} s (last seen: {found})")


BACKFILL_MUTATION = """
mutation Backfill($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on PartitionSetNotFoundError { message } } }
"""


def launch_backfill(base_url: str, assets: list[str], partitions: list[str], tags: dict[str, str] | None = None,
                    title: str | None = None) -> str:
    """An asset backfill as the UI's "Materialize" of several partitions launches it; its id."""
    params = {"assetSelection": [{"path": a.split("/")} for a in assets], "partitionNames": partitions,
              "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()], "title": title}
    data = health.graphql(base_url, BACKFILL_MUTATION, {"params": params})["launchPartitionBackfill"]
    assert data["__typename"] == "LaunchBackfillSuccess", data
    return data["backfillId"]


BACKFILLS_QUERY = """
query Backfills { partitionBackfillsOrError(limit: 100) { __typename ... on PartitionBackfills { results {
  id status title tags { key value }
  assetBackfillData { assetBackfillStatuses { __typename ... on AssetPartitionsStatusCounts {
    assetKey { path } numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed } } }
} } } }
"""


def backfills(base_url: str, tags: dict[str, str] | None = None) -> list[dict]:
    """The instance's backfills (newest first) carrying these tags: id, status, tags and per asset
    (key "spec/asset") the counts (targeted, in progress, materialized, failed)."""
    data = health.graphql(base_url, BACKFILLS_QUERY)["partitionBackfillsOrError"]
    assert data["__typename"] == "PartitionBackfills", data
    out = []
    for found in data["results"]:
        found_tags = {t["key"]: t["value"] for t in found["tags"]}
        if any(found_tags.get(k) != v for k, v in (tags or {}).items()):
            continue
        statuses = ((found.get("assetBackfillData") or {}).get("assetBackfillStatuses")) or []
        counts = {"/".join(s["assetKey"]["path"]): (s["numPartitionsTargeted"], s["numPartitionsInProgress"],
                                                    s["numPartitionsMaterialized"], s["numPartitionsFailed"])
                  for s in statuses if s["__typename"] == "AssetPartitionsStatusCounts"}
        out.append({"id": found["id"], "status": found["status"], "title": found["title"], "tags": found_tags,
                    "counts": counts})
    return out


EVENTS_QUERY = """
query Events($key: AssetKeyInput!, $partitions: [String!]) { assetOrError(assetKey: $key) { __typename ... on Asset {
  assetMaterializations(partitions: $partitions) { partition runId timestamp }
  assetObservations(partitions: $partitions) { partition timestamp description
    metadataEntries { label __typename ... on TextMetadataEntry { text } ... on IntMetadataEntry { intValue }
      ... on UrlMetadataEntry { url } } } } } }
"""


def asset_events(base_url: str, asset: str, partitions: list[str]) -> tuple[list[dict], list[dict]]:
    """The materializations and observations of these partitions of an asset ("spec/asset")."""
    data = health.graphql(base_url, EVENTS_QUERY, {"key": {"path": asset.split("/")}, "partitions": partitions})
    found = data["assetOrError"]
    assert found["__typename"] == "Asset", found
    observations = [{"partition": o["partition"], "timestamp": float(o["timestamp"]), "description": o["description"],
                     **{e["label"]: next((e[k] for k in ("text", "intValue", "url") if k in e), None)
                        for e in o["metadataEntries"]}}
                    for o in found["assetObservations"]]
    return found["assetMaterializations"], observations
