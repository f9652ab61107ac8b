"""Step retries for transient faults only.

Steps that talk to outside systems (DWH, registry, image builder) carry a Dagster RetryPolicy with
exponential backoff and jitter. Inside them, ``transient_only`` lets a transient fault through (so
the policy retries it) and turns anything else into a ``Failure(allow_retries=False)``: a data
problem, a gate rejection or a bug fails the same way every time and is not retried.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from batch_training.faults import classify, is_transient, summary
from batch_training.settings import Settings


def retry_policy(settings: Settings) -> dg.RetryPolicy | None:
    if settings.retry_max == 0:
        return None
    return dg.RetryPolicy(max_retries=settings.retry_max, delay=settings.retry_delay_s,
                          backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


@contextmanager
def transient_only(what: str) -> Iterator[None]:
    try:
        yield
    except (dg.Failure, dg.RetryRequested):
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        raise dg.Failure(description=f"{what}: {summary(exc)} [{classify(exc)} failure, not retried]",
                         allow_retries=False) from exc
