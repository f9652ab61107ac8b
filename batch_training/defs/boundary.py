"""Every asset body runs inside a failure boundary: whatever it raises leaves the step as a typed
``dg.Failure`` whose metadata carries the failure class (``batch_training/failure_class``) and
what to do about it, so the recovery sensor, the ledger and the alerts read the class, never a
message. Transient faults are retried first: exponential backoff with jitter, at most
``BATCH_TRAINING_RETRY_MAX`` times (``dg.RetryRequested``, shown as "up for retry" in the UI);
data, gate, configuration, infrastructure and code failures fail at once and are not retried.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from batch_training.errors import RETRYABLE
from batch_training.operations.classify import FAILURE_CLASS_KEY, HINT_KEY, classify_exception, hint_of, summary
from batch_training.settings import Settings


@dataclass(frozen=True)
class StepRetries:
    """Retries of transient faults within a step: ``max_retries`` waits of ``delay_s * 2**n`` (±50%)."""

    max_retries: int
    delay_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "StepRetries":
        return cls(settings.retry_max, settings.retry_delay_s)

    def wait_s(self, retry_number: int) -> float:
        return self.delay_s * 2**retry_number * random.uniform(0.5, 1.5)


def as_failure(what: str, exc: BaseException, failure_class: str | None = None) -> dg.Failure:
    """A step failure that says what failed, why, its class and what to do (no secret: typed errors
    carry redacted text)."""
    failure_class = failure_class or classify_exception(exc)
    hint = hint_of(exc)
    return dg.Failure(
        description=f"{what}: {summary(exc)} [{failure_class} failure{'; ' + hint if hint else ''}]",
        metadata={FAILURE_CLASS_KEY: failure_class, HINT_KEY: hint, "error_type": type(exc).__name__},
        allow_retries=False,
    )


@contextmanager
def failure_boundary(context, what: str, retries: StepRetries | None = None) -> Iterator[None]:
    try:
        yield
    except (dg.Failure, dg.RetryRequested):
        raise
    except Exception as exc:
        failure_class = classify_exception(exc)
        attempt = context.retry_number
        if failure_class in RETRYABLE and retries is not None and attempt < retries.max_retries:
            wait = retries.wait_s(attempt)
            context.log.warning(f"{what}: {summary(exc)} [{failure_class}]; retry {attempt + 1} of "
                                f"{retries.max_retries} in {wait:.1f} s")
            raise dg.RetryRequested(max_retries=retries.max_retries, seconds_to_wait=wait) from exc
        raise as_failure(what, exc, failure_class) from exc
