"""Fixtures many test modules share (a pytest plugin, see conftest.py): the flagship spec and a
real local HTTP server that receives the alerts."""

from __future__ import annotations

import pytest

from batch_training.spec import TrainingSpec, load_specs
from batch_training_tests.support.automation import AlertReceiver


@pytest.fixture
def alerts():
    receiver = AlertReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def flights() -> TrainingSpec:
    return load_specs()[0]
