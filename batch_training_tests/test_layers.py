"""The layers of DESIGN.md: the core packages never import Dagster; only ``defs/`` (the adapters),
``definitions`` (the thin root) and ``ops`` (the dev stack) may.

Each core package is imported, with every module under it, in a fresh interpreter (this test
process has long imported Dagster), and ``dagster`` must not be in ``sys.modules`` afterwards.
``dagster_pipes`` is a different module and would be allowed.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import batch_training

ADAPTERS = {"defs", "definitions"}  # the command line and the local stack import it only when they run a job
CORE = sorted(m.name for m in pkgutil.iter_modules(batch_training.__path__) if m.name not in ADAPTERS)

_IMPORT_ALL = """
import importlib, json, pkgutil, sys
name = sys.argv[1]
package = importlib.import_module(name)
imported = [name]
for info in pkgutil.walk_packages(getattr(package, "__path__", []), name + "."):
    if info.name.endswith(".__main__"):  # a program, not a module: importing it runs it
        continue
    importlib.import_module(info.name)
    imported.append(info.name)
print(json.dumps({"imported": imported, "dagster": sorted(m for m in sys.modules if m == "dagster" or m.startswith("dagster."))}))
"""


def test_core_packages_are_found():
    assert {"operations", "registry", "spec", "training", "warehouse"} <= set(CORE)
    assert not ADAPTERS & set(CORE)


@pytest.mark.parametrize("package", CORE)
def test_core_package_imports_without_dagster(package):
    import json

    done = subprocess.run([sys.executable, "-c", _IMPORT_ALL, f"batch_training.{package}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert f"batch_training.{package}" in found["imported"]
    assert found["dagster"] == [], f"importing batch_training.{package} imported {found['dagster'][:5]}"


_LOAD_DEFINITIONS = """
import json, sys
from batch_training.definitions import defs
import batch_training.cli.main
built = defs()
assert built.resolve_job_def("flights_delay__ingest") is not None
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx", "onnxruntime"))
print(json.dumps({"heavy": heavy[:5], "modules": len(sys.modules)}))
"""


def test_loading_the_definitions_imports_neither_torch_nor_onnx(tmp_path):
    """Every process that loads the code location (the CLI, each run, the webserver's and the daemon's
    code servers, every sensor tick) builds the definitions; torch and ONNX (3.4 s of imports on 2 cores)
    load only in the steps that train, evaluate or bundle a model."""
    import json
    import os

    env = {**os.environ, "BATCH_TRAINING_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _LOAD_DEFINITIONS], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["heavy"] == [], f"building the definitions imported {found['heavy']}"
