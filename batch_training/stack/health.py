"""Is the Dagster stack ready? Asked over HTTP, as a user's browser would: the webserver answers, the
code location loaded, and the daemon's heartbeats are fresh. Standard library only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

WORKSPACE_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } }
    ... on PythonError { message } } }
"""
DAEMON_QUERY = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required lastHeartbeatTime } } } }"
REQUIRED_DAEMONS = ("SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR")


class NotReady(Exception):
    """Not ready yet (keep waiting)."""


class Broken(Exception):
    """Will not become ready by waiting (stop waiting and say why)."""


def server_info(base_url: str, timeout: float = 5.0) -> dict:
    try:
        with urllib.request.urlopen(f"{base_url}/server_info", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise NotReady(f"GET /server_info: {exc}") from None


def graphql(base_url: str, query: str, variables: dict | None = None, timeout: float = 30.0) -> dict:
    """POST a query to /graphql; its ``data`` (raises on transport or GraphQL errors)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base_url}/graphql", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            payload = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise NotReady(f"POST /graphql: {exc}") from None
    if payload.get("errors"):
        raise NotReady(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


def location_loaded(base_url: str, location: str) -> None:
    """Returns once ``location`` is LOADED; raises Broken when it failed to load."""
    data = graphql(base_url, WORKSPACE_QUERY)["workspaceOrError"]
    if data["__typename"] != "Workspace":
        raise NotReady(f"workspace: {data.get('message', data['__typename'])}")
    entry = next((e for e in data["locationEntries"] if e["name"] == location), None)
    if entry is None:
        raise Broken(f"code location {location!r} is not in the workspace")
    loaded = entry["locationOrLoadError"] or {}
    if loaded.get("__typename") == "PythonError":
        raise Broken(f"code location {location!r} failed to load: {loaded.get('message', '').strip()[:2000]}")
    if entry["loadStatus"] != "LOADED" or loaded.get("__typename") != "RepositoryLocation":
        raise NotReady(f"code location {location!r} is {entry['loadStatus']}")


def daemons_healthy(base_url: str, since: float = 0.0, required: tuple[str, ...] = REQUIRED_DAEMONS) -> None:
    """Returns once every ``required`` daemon reports a fresh heartbeat, sent after ``since`` (epoch
    seconds: the heartbeats of a daemon killed a moment ago still look fresh for a while)."""
    statuses = graphql(base_url, DAEMON_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
    healthy = {s["daemonType"] for s in statuses if s["healthy"] and (s["lastHeartbeatTime"] or 0) >= since}
    missing = [d for d in required if d not in healthy]
    if missing:
        raise NotReady(f"daemons without a fresh heartbeat: {', '.join(missing)}")
