"""Alerts to the operating team: a swappable sink (``webhook`` for Slack-compatible incoming webhooks,
``log`` for the embedded default and tests). Standard library only; no Dagster.

A webhook URL is a secret (its path is the token): it is never shown, not in errors, logs nor
``repr``; only ``redact_webhook(url)`` (``scheme://host/***``) is.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger("batch_training.alerts")

ALERT_KINDS = ("retries_exhausted", "data_failure", "gate_rejected", "smoke_test_failed", "model_stale", "code_failure",
               "config_failure", "infrastructure_failure", "source_stale", "data_drift", "live_error")
SINK_KINDS = ("webhook", "log")
MAX_RETRY_AFTER_S = 30.0  # a rate-limited webhook's Retry-After is honoured up to this


class AlertError(Exception):
    """An alert could not be delivered."""


@dataclass(frozen=True)
class Alert:
    """One message to the operating team, with the run to look at and the ledger entry to act on."""

    kind: str  # one of ALERT_KINDS
    title: str
    text: str
    spec: str
    run_url: str | None = None
    ledger_id: int | None = None  # the first of ledger_ids (or the only one)
    details: dict[str, Any] = field(default_factory=dict)
    failure_class: str | None = None
    days: str = ""  # the partitions concerned, "2013-01-01..2013-01-03, 2013-01-05"
    ledger_ids: tuple[int, ...] = ()
    hint: str = ""  # what to do about it
    link: str | None = None  # a further page to look at (e.g. the recovery backfill)

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r} (one of {', '.join(ALERT_KINDS)})")
        if self.ledger_id is not None and not self.ledger_ids:
            object.__setattr__(self, "ledger_ids", (self.ledger_id,))
        if self.ledger_id is None and self.ledger_ids:
            object.__setattr__(self, "ledger_id", self.ledger_ids[0])

    def summary(self) -> str:
        """The plain-text message: title, text, then class, days, links, ledger entries and what to do."""
        lines = [self.title, self.text]
        if self.failure_class:
            lines.append(f"class: {self.failure_class}")
        if self.days:
            lines.append(f"days: {self.days}")
        if self.run_url:
            lines.append(f"run: {self.run_url}")
        if self.link:
            lines.append(f"see: {self.link}")
        if self.ledger_ids:
            lines.append("ledger: " + ", ".join(f"#{i}" for i in self.ledger_ids))
        if self.hint:
            lines.append(f"what to do: {self.hint}")
        return "\n".join(line for line in lines if line)


class AlertSink(ABC):
    """Where alerts go. ``send`` returns once the alert is delivered, or raises ``AlertError``."""

    @abstractmethod
    def send(self, alert: Alert) -> None: ...


class LogAlertSink(AlertSink):
    """One WARNING line per alert on the ``batch_training.alerts`` logger, with everything the
    webhook carries: spec, kind, class, days, ledger ids, run link, what to do."""

    def send(self, alert: Alert) -> None:
        title = " ".join(alert.title.split())
        rest = alert.summary().removeprefix(alert.title).splitlines()
        logger.warning("alert %s [%s]: %s", alert.kind, alert.spec,
                       " | ".join([title] + [" ".join(line.split()) for line in rest if line.strip()]))

    def __repr__(self) -> str:
        return "LogAlertSink()"


class WebhookAlertSink(AlertSink):
    """POSTs Slack-compatible JSON (``text`` and ``blocks``; other receivers read ``batch_training``).

    Connection errors, timeouts, 5xx and 429 are retried ``retries`` times with exponential backoff
    (429's ``Retry-After`` is honoured); other answers, redirects included, fail at once.
    """

    def __init__(self, url: str, timeout_s: float = 10, retries: int = 3, backoff_s: float = 0.5):
        self._url = url
        self.redacted = redact_webhook(url)
        if self.redacted == "<unparsable URL>" or urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"a webhook URL is http(s)://host/..., not {self.redacted}")
        if timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ValueError("timeout_s must be positive, retries and backoff_s not negative")
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self._opener = urllib.request.build_opener(_NoRedirects())

    def __repr__(self) -> str:
        return f"WebhookAlertSink({self.redacted!r})"

    def send(self, alert: Alert) -> None:
        body = json.dumps(payload(alert), default=str).encode()
        problem, wait = "", None
        for attempt in range(self.retries + 1):
            if attempt:
                delay = wait if wait is not None else self.backoff_s * 2 ** (attempt - 1)
                logger.info("alert webhook %s: %s; retrying in %.2f s", self.redacted, problem, delay)
                time.sleep(delay)
            try:
                self._post(body)
                return
            except urllib.error.HTTPError as exc:
                wait = _retry_after(exc)
                problem = self._scrub(f"answered HTTP {exc.code}{_reply(exc)}")
                exc.close()
                if exc.code != 429 and not 500 <= exc.code < 600:
                    raise AlertError(f"alert webhook {self.redacted} {problem}; not retrying") from None
            except (urllib.error.URLError, OSError) as exc:  # refused, reset, DNS, timeout
                wait, problem = None, self._scrub(f"unreachable ({_reason(exc)})")
            except Exception as exc:  # noqa: BLE001 - e.g. http.client.InvalidURL, whose message quotes the URL
                raise AlertError(f"alert webhook {self.redacted} failed: {type(exc).__name__}") from None
        raise AlertError(f"alert webhook {self.redacted} failed {self.retries + 1} times, last: {problem}")

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(self._url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "batch_training-alerts/1"})
        with self._opener.open(request, timeout=self.timeout_s) as response:
            response.read()

    def _scrub(self, text: str) -> str:
        """Belt and braces: no part of the URL after the host in any message."""
        parts = urlsplit(self._url)
        for secret in sorted({self._url, parts.path, parts.query, parts.password or ""} - {"", "/"},
                             key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def alert_sink(kind: str, url: str | None = None) -> AlertSink:
    """The sink for the deployment: ``webhook`` (``url`` required) or ``log``."""
    if kind == "webhook":
        if not url:
            raise ValueError("the webhook alert sink needs a URL (a secret: set it from the environment)")
        return WebhookAlertSink(url)
    if kind == "log":
        return LogAlertSink()
    raise ValueError(f"unknown alert sink {kind!r} (one of {', '.join(SINK_KINDS)})")


def payload(alert: Alert) -> dict[str, Any]:
    """The JSON body: Slack's ``text`` (fallback and notifications) and ``blocks``, plus the raw fields."""
    fields = [f"*spec:* {_escape(alert.spec)}", f"*kind:* {alert.kind}"]
    if alert.failure_class:
        fields.append(f"*class:* {alert.failure_class}")
    if alert.days:
        fields.append(f"*days:* {_escape(alert.days)}")
    if alert.run_url:
        fields.append(f"*run:* <{alert.run_url}|open in Dagster>")
    if alert.link:
        fields.append(f"*see:* <{alert.link}|open>")
    if alert.ledger_ids:
        fields.append("*ledger:* " + ", ".join(f"#{i}" for i in alert.ledger_ids))
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text",
                                                                  "text": alert.title[:150] or alert.kind}}]
    if alert.text.strip():  # Slack refuses a section without text
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _escape(alert.text)[:3000]}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f} for f in fields]})
    return {
        "text": _escape(alert.summary()),
        "blocks": blocks,
        "batch_training": {"kind": alert.kind, "spec": alert.spec, "run_url": alert.run_url,
                           "ledger_id": alert.ledger_id, "ledger_ids": list(alert.ledger_ids),
                           "failure_class": alert.failure_class, "days": alert.days, "hint": alert.hint,
                           "link": alert.link, "details": alert.details},
    }


def redact_webhook(url: str) -> str:
    """``scheme://host[:port]/***``: the path, query and any credentials are the secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except (ValueError, TypeError, AttributeError):
        return "<unparsable URL>"
    return f"{parts.scheme}://{host}{port}/***" if parts.scheme and host else "<unparsable URL>"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would turn a redirected POST into a GET without the alert; treat it as an error."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _escape(text: str) -> str:
    """Slack's control characters; everything else is sent as it is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _reply(exc: urllib.error.HTTPError) -> str:
    """A short excerpt of the error body (Slack says e.g. ``invalid_token``); the caller scrubs it."""
    try:
        text = " ".join(exc.read(200).decode("utf-8", "replace").split())
    except (OSError, ValueError):
        return ""
    return f": {text}" if text else ""


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = (exc.headers.get("Retry-After") or "").strip() if exc.headers else ""
    return min(float(value), MAX_RETRY_AFTER_S) if value.isdigit() else None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return type(reason).__name__ if isinstance(reason, BaseException) and not str(reason) else str(reason)
