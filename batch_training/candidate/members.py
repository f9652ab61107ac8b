"""An ensemble's members trained side by side, each in a process of its own.

A member's training is one torch thread's work (``model.threads``, 1 by default: more threads in one
process spin-wait on shared CPUs), so the members of an ensemble are independent jobs: with
``model.processes`` workers (each given the training and validation tensors once) they run that many
at a time. The workers fork from a server process (multiprocessing's forkserver, where the platform
has one; spawned otherwise) that imported torch, ``torch._dynamo`` (which the first optimizer imports)
and this module once, before any torch thread pool exists: a worker starts in milliseconds instead of
paying a fresh interpreter's ~5 s of imports. ``start_workers`` starts that server early, so that its
imports overlap the preparation of the data. Each member is trained by the same function with the same seed and thread
count as in one process, so its weights are the same bit for bit, whichever worker trains it.

The workers report after each member: its epochs reach the callbacks then, in member order, so the
run log keeps one member's epochs together.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.context import BaseContext

import torch

from batch_training.training import Batch, Callback, ModelConfig, TrainResult

# what the worker server imports once, before it forks the workers
_PRELOAD = ["torch", "torch._dynamo", __name__]

# set in each worker by _start: the tensors every member trains on, sent once per worker
_DATA: dict[str, Batch] = {}


def _start(train: Batch, valid: Batch, threads: int) -> None:
    torch.set_num_threads(threads)
    _DATA.update(train=train, valid=valid)


def _run(fit: Callable[..., TrainResult], config: ModelConfig, model, i: int, task: str,
         device: str | None) -> TrainResult:
    return fit(config, _DATA["train"], _DATA["valid"], model, i, task, (), device)


def train_members(fit: Callable[..., TrainResult], config: ModelConfig, train: Batch, valid: Batch, model,
                  task: str, callbacks: Sequence[Callback], device: str | None) -> list[TrainResult]:
    """``fit(config, train, valid, model, i, task, callbacks, device)`` for each member ``i`` of
    ``model.ensemble``, ``model.processes`` at a time in workers of their own; the results in member order.
    ``fit`` must be a module-level function (workers import it by name)."""
    workers = min(model.processes, model.ensemble)
    with ProcessPoolExecutor(workers, mp_context=_context(fit.__module__), initializer=_start,
                             initargs=(train, valid, model.threads)) as pool:
        futures: list[Future] = [pool.submit(_run, fit, config, model, i, task, device) for i in range(model.ensemble)]
        results = []
        try:
            for i, future in enumerate(futures):
                result = future.result()
                _replay(callbacks, result, i, model.ensemble)
                results.append(result)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def start_workers(*modules: str) -> None:
    """Start the server the workers fork from, unless it runs already; it imports ``modules`` too
    (the module of the ``fit`` that ``train_members`` will be given)."""
    context = _context(*modules)
    if context.get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


def _context(*modules: str) -> BaseContext:
    # never a plain fork of the caller: it may hold torch's thread pools, which a forked child cannot use
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*_PRELOAD, *modules])
    return context


def member_started(callbacks: Sequence[Callback], i: int, members: int) -> None:
    """Member ``i`` of ``members`` starts: to the callbacks that want to know (``on_member_start``
    is optional in the Callback protocol)."""
    for callback in callbacks:
        start = getattr(callback, "on_member_start", None)
        if start is not None:
            start(i, members)


def _replay(callbacks: Sequence[Callback], result: TrainResult, i: int, members: int) -> None:
    """A finished member's epochs, to the callbacks, as one process would have reported them."""
    member_started(callbacks, i, members)
    for callback in callbacks:
        for stats in result.history:
            callback.on_epoch_end(stats)
