import pytest

pytest_plugins = ["batch_training_tests.support.postgres", "batch_training_tests.support.fixtures"]

SERVER_MARKS = ("postgres", "ui", "image")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """For ``make test``'s server part (``-n 2 --dist loadgroup``): the server tests of one module
    stay on one worker (a module's stack or PostgreSQL is started once), and both image modules
    share one worker (they share the one buildah storage and its bootstrapped base image)."""
    for item in items:
        if not any(item.get_closest_marker(mark) for mark in SERVER_MARKS):
            continue
        group = "image" if item.get_closest_marker("image") else item.module.__name__.rpartition(".")[2]
        item.add_marker(pytest.mark.xdist_group(group))
