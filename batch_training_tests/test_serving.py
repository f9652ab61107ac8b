"""Serving: ONNX export, bundles and the prediction server, against the offline PyTorch predictions."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pytest
import torch
from fastapi.testclient import TestClient

from batch_training.candidate import Predictor, fit_candidate
from batch_training.candidate.fit import validation_rows
from batch_training.features import fit_preprocessor
from batch_training.features.dataset import LoadedDataset
from batch_training.ports import free_port
from batch_training.serving import build_bundle, bundle_requirements, content_hash, export_onnx
from batch_training.spec import builtin_spec_dir, load_spec
from batch_training.spec.tables import FeaturesSpec
from batch_training.training import Checkpoint, ModelConfig, TabularNet, load_checkpoint, save_checkpoint
from batch_training_tests.support.sensors import alert_readings, assembled, binary_sensor_spec, sensor_readings, sensor_spec

FLIGHT_CARRIERS = ["AA", "B6", "DL", "UA"]  # WN is allowed by the contract but never seen in training
FLIGHT_DESTS = ["LAX", "SFO", "BOS", "ORD", "MIA"]


def plain_flights_spec():
    """The flagship's main table with plain features only (no join, nothing derived): the server's
    rules on the contract's own columns."""
    spec = load_spec(builtin_spec_dir() / "flights_delay.yaml")
    features = FeaturesSpec(numeric=["dep_delay", "sched_dep_time", "distance", "hour"],
                            categorical=["carrier", "origin", "dest"])
    return spec.model_copy(update={"joins": {}, "derived": {}, "features": features})


def _flights_table(rng: np.random.Generator, n: int) -> pa.Table:
    dep = rng.normal(10, 30, n).round()
    return pa.table({
        "dep_delay": pa.array([None if rng.random() < 0.05 else float(v) for v in dep], pa.float64()),
        "sched_dep_time": rng.choice([600, 830, 1200, 1545, 2100], n).astype(np.int64),
        "distance": rng.integers(100, 3000, n), "hour": rng.integers(5, 23, n),
        "carrier": rng.choice(FLIGHT_CARRIERS, n), "origin": rng.choice(["EWR", "JFK", "LGA"], n),
        "dest": rng.choice(FLIGHT_DESTS, n), "arr_delay": (dep + rng.normal(-5, 10, n)).round(),
    })


def _sensor_table(days: int, seed: int) -> pa.Table:
    import datetime as dt
    return assembled(sensor_spec(), sensor_readings(dt.date(2024, 3, 1), days, seed=seed), dt.date(2024, 3, 1), days, seed)


def _fit(spec, train: pa.Table, holdout: pa.Table, epochs: int = 2, seed: int | None = None) -> Checkpoint:
    pre = fit_preprocessor(train, spec.features.numeric, spec.features.categorical, spec.target, spec.task,
                           spec.positive_class)
    update = {"epochs": epochs} | ({"seed": seed} if seed is not None else {})
    data = LoadedDataset(train, holdout, pre, {"as_of": "2024-01-01"})
    return fit_candidate(data, spec.model.model_copy(update=update), {"spec": spec.name, "days": 3}).checkpoint


def _flights_rows(rng: np.random.Generator, n: int) -> list[dict]:
    """Valid request rows with gaps (dep_delay is nullable) and categories unseen in training."""
    rows = []
    for i in range(n):
        rows.append({
            "dep_delay": None if i % 7 == 0 else float(rng.integers(-30, 300)),
            "sched_dep_time": int(rng.choice([0, 559, 830, 1200, 2359, 2400])),
            "distance": int(rng.integers(1, 6000)), "hour": int(rng.integers(0, 24)),
            "carrier": str(rng.choice(FLIGHT_CARRIERS + ["WN"])), "origin": str(rng.choice(["EWR", "JFK", "LGA"])),
            "dest": str(rng.choice(FLIGHT_DESTS + ["ZZZ", "ANC"])),
        })
    rows[1].pop("dep_delay")  # a nullable feature may also be left out
    return rows


def _sensor_rows(rng: np.random.Generator, n: int) -> list[dict]:
    """Valid sensor requests: the reading's time (its local hour is derived), the caller's latest
    calibration offset (missing when the sensor has none) and categories unseen in training."""
    return [{"temperature_c": float(rng.uniform(-50, 150)), "battery_pct": int(rng.integers(0, 101)),
             "sensor": str(rng.choice(["s1", "s2", "s3", "s4"])),
             "firmware": [None, "v1", "v2", "v3", "v9"][i % 5],
             "read_at": f"2024-03-{rng.integers(1, 29):02d}T{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}:00Z",
             "calibration.offset_c": None if i % 7 == 3 else round(float(rng.uniform(-10, 10)), 2)} for i in range(n)]


def _table(rows: list[dict], spec) -> pa.Table:
    """Request rows as the offline path sees them: the raw inputs typed by their contract (dates and
    timestamps from their ISO text), then the spec's derived features."""
    import datetime as dt

    from batch_training.features.columns import request_inputs
    from batch_training.features.derive import add_derived

    types = {"float": pa.float64(), "integer": pa.int64(), "string": pa.string(), "date": pa.date32(),
             "timestamp": pa.timestamp("us", tz="UTC")}
    columns = {}
    for name in request_inputs(spec):
        kind = spec.contract_of(name).type
        values = [row.get(name) for row in rows]
        if kind == "date":
            values = [None if v is None else dt.date.fromisoformat(v) for v in values]
        elif kind == "timestamp":
            values = [None if v is None else dt.datetime.fromisoformat(v.replace("Z", "+00:00")) for v in values]
        columns[name] = pa.array(values, types[kind])
    return add_derived(add_derived(pa.table(columns), spec, after_joins=False), spec, after_joins=True)


class Case:
    def __init__(self, name, spec, checkpoint_path: Path, bundle: Path, rows: list[dict]):
        self.name, self.spec, self.checkpoint_path, self.bundle, self.rows = name, spec, checkpoint_path, bundle, rows

    @property
    def checkpoint(self) -> Checkpoint:
        return load_checkpoint(self.checkpoint_path)


def test_validation_rows_are_a_seeded_share_of_the_training_rows():
    fit, valid = validation_rows(1000, 0.1, seed=3)
    assert (len(fit), len(valid)) == (900, 100)
    assert sorted(np.concatenate([fit, valid]).tolist()) == list(range(1000))
    assert np.array_equal(validation_rows(1000, 0.1, seed=3)[1], valid)
    assert not np.array_equal(validation_rows(1000, 0.1, seed=4)[1], valid)
    assert [len(validation_rows(n, f, 0)[1]) for n, f in ((2, 0.1), (3, 0.45), (40, 0.2))] == [1, 1, 8]
    with pytest.raises(ValueError, match="at least 2"):
        validation_rows(1, 0.1, 0)


def test_the_holdout_never_shapes_the_fit():
    """Early stopping and the best epoch look at training rows only: another holdout, the same weights
    and the same history."""
    spec = plain_flights_spec()
    rng = np.random.default_rng(5)
    train = _flights_table(rng, 1200)
    one, other = (_fit(spec, train, _flights_table(np.random.default_rng(s), 300), epochs=4) for s in (1, 2))
    losses = [[(h["train_loss"], h["valid_loss"]) for h in c.history] for c in (one, other)]
    assert losses[0] == losses[1] and one.metadata["best_epoch"] == other.metadata["best_epoch"]
    assert all(torch.equal(one.state_dict[k], other.state_dict[k]) for k in one.state_dict)


@pytest.fixture(scope="module")
def flights(tmp_path_factory) -> Case:
    spec = plain_flights_spec()
    rng = np.random.default_rng(0)
    ckpt = _fit(spec, _flights_table(rng, 1500), _flights_table(rng, 300))
    folder = tmp_path_factory.mktemp("flights")
    save_checkpoint(folder / "model.pt", ckpt)
    build_bundle(folder / "model.pt", spec, "flights-v1", folder / "bundle", {"mae": 12.5})
    return Case("flights", spec, folder / "model.pt", folder / "bundle", _flights_rows(rng, 300))


@pytest.fixture(scope="module")
def sensors(tmp_path_factory) -> Case:
    spec = sensor_spec()
    table = _sensor_table(5, seed=7)
    ckpt = _fit(spec, table.slice(0, 384), table.slice(384))
    folder = tmp_path_factory.mktemp("sensors")
    save_checkpoint(folder / "model.pt", ckpt)
    build_bundle(folder / "model.pt", spec, "sensors-v1", folder / "bundle", {"log_loss": 0.4})
    return Case("sensors", spec, folder / "model.pt", folder / "bundle", _sensor_rows(np.random.default_rng(1), 300))


@pytest.fixture(scope="module")
def alerts(tmp_path_factory) -> Case:
    """A binary model whose positive class ("alert") sorts first, with a chosen decision threshold."""
    import datetime as dt

    spec = binary_sensor_spec()
    table = assembled(spec, alert_readings(dt.date(2024, 3, 1), 5, seed=7), dt.date(2024, 3, 1), 5, seed=7)
    ckpt = _fit(spec, table.slice(0, 384), table.slice(384), epochs=8)
    folder = tmp_path_factory.mktemp("alerts")
    save_checkpoint(folder / "model.pt", ckpt)
    build_bundle(folder / "model.pt", spec, "alerts-v1", folder / "bundle", {"log_loss": 0.3})
    return Case("alerts", spec, folder / "model.pt", folder / "bundle", _sensor_rows(np.random.default_rng(2), 300))


@pytest.fixture(params=["flights", "sensors", "alerts"])
def case(request) -> Case:
    return request.getfixturevalue(request.param)


def _app(bundle: Path, **kwargs):
    """The bundle's own copy of the server, imported from the bundle folder as the image does."""
    sys.path.insert(0, str(bundle))
    try:
        for name in [m for m in sys.modules if m == "server" or m.startswith("server.")]:
            del sys.modules[name]
        from server import create_app
        return create_app(bundle, **kwargs)
    finally:
        sys.path.remove(str(bundle))


def _offline(case: Case, rows: list[dict]) -> np.ndarray:
    return Predictor(case.checkpoint)(_table(rows, case.spec))


def _as_array(predictions: list, task: str, classes: list[str] | None) -> np.ndarray:
    if task == "regression":
        return np.array(predictions, dtype=np.float64)
    return np.array([[p["probabilities"][c] for c in classes] for p in predictions])


# -- ONNX export ---------------------------------------------------------------------------------------

def _random_checkpoint(n_numeric: int, cardinalities: tuple[int, ...], n_outputs: int) -> Checkpoint:
    torch.manual_seed(3)
    config = ModelConfig(n_numeric=n_numeric, cardinalities=cardinalities, hidden=(8, 4), embedding_dim=3,
                         dropout=0.2, n_outputs=n_outputs)
    return Checkpoint(model_config=config, state_dict=TabularNet(config).state_dict())


@pytest.mark.parametrize("n_numeric, cardinalities, n_outputs, inputs", [
    (4, (5, 3), 1, {"numeric": ["batch", 4], "categorical": ["batch", 2]}),
    (0, (5, 3), 3, {"categorical": ["batch", 2]}),  # no numeric input at all, rather than a [batch, 0] one
    (4, (), 2, {"numeric": ["batch", 4]}),
])
def test_export_matches_pytorch(tmp_path, n_numeric, cardinalities, n_outputs, inputs):
    ckpt = _random_checkpoint(n_numeric, cardinalities, n_outputs)
    info = export_onnx(ckpt, tmp_path / "m.onnx")
    assert info["inputs"] == inputs and info["output"] == ["batch", n_outputs] and info["opset"] >= 13
    assert 0 <= info["max_abs_diff"] < 1e-4
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left behind

    # Fresh inputs and batch sizes the export never saw: ONNX Runtime agrees with the eager model.
    rng = np.random.default_rng(11)
    model = TabularNet(ckpt.model_config)
    model.load_state_dict(ckpt.state_dict)
    model.eval()
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for n in (1, 7, 300):
        num = rng.normal(size=(n, n_numeric)).astype(np.float32)
        cat = np.column_stack([rng.integers(0, c, n) for c in cardinalities]) if cardinalities else np.zeros((n, 0))
        cat = cat.astype(np.int64)
        feeds = {k: v for k, v in (("numeric", num), ("categorical", cat)) if k in inputs}
        got = session.run(None, feeds)[0]
        with torch.no_grad():
            want = model(torch.from_numpy(num), torch.from_numpy(cat)).numpy()
        assert got.shape == (n, n_outputs)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_export_of_trained_checkpoints(flights, sensors, tmp_path):
    for case, width in ((flights, 1), (sensors, 3)):
        info = export_onnx(case.checkpoint, tmp_path / f"{case.name}.onnx")
        assert info["output"] == ["batch", width] and info["max_abs_diff"] < 1e-4


# -- predictions ---------------------------------------------------------------------------------------

def test_server_matches_offline_predictions(case):
    classes = load_checkpoint(case.checkpoint_path).preprocessing["target"]["classes"]
    want = _offline(case, case.rows)
    with TestClient(_app(case.bundle)) as client:
        response = client.post("/predict/batch", json={"rows": case.rows})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_version"] == f"{case.name}-v1" and len(body["predictions"]) == len(case.rows)
        got = _as_array(body["predictions"], case.spec.task, classes)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
        if case.spec.task != "regression":
            labels = [p["label"] for p in body["predictions"]]
            if case.spec.task == "binary":  # positive at the stored threshold, not at argmax
                threshold = case.checkpoint.preprocessing["target"]["threshold"]
                assert classes[1] == case.spec.positive_class and threshold != 0.5
                assert labels == [classes[int(p >= threshold)] for p in want[:, 1]]
                assert set(labels) == set(classes) and labels != [classes[i] for i in want.argmax(axis=1)]
            else:
                assert labels == [classes[i] for i in want.argmax(axis=1)]
            assert set(labels) <= set(classes)

        singles = []
        for row in case.rows[:40]:
            r = client.post("/predict", json=row)
            assert r.status_code == 200, r.text
            assert r.json()["model_version"] == f"{case.name}-v1"
            singles.append(r.json()["prediction"])
        np.testing.assert_allclose(_as_array(singles, case.spec.task, classes), got[:40], atol=1e-9, rtol=0)
    # the rows really reach the out-of-vocabulary bucket (unseen or missing categories)
    _, categorical = Predictor(case.checkpoint).preprocessor.encode_features(_table(case.rows, case.spec))
    assert (categorical == 0).any(axis=0).sum() >= 1
    assert len(np.unique(np.round(got, 6), axis=0)) > 10  # not a constant model


def test_missing_values_change_the_prediction(flights):
    row = dict(flights.rows[0], dep_delay=250.0)
    with TestClient(_app(flights.bundle)) as client:
        given = client.post("/predict", json=row).json()["prediction"]
        missing = client.post("/predict", json=dict(row, dep_delay=None)).json()["prediction"]
        absent = client.post("/predict", json={k: v for k, v in row.items() if k != "dep_delay"}).json()["prediction"]
    assert missing == absent and missing != given


@pytest.mark.parametrize("features", [
    {"numeric": ["temperature_c", "battery_pct"], "categorical": []},
    {"numeric": [], "categorical": ["sensor", "firmware"]},
])
def test_models_without_numeric_or_categorical_inputs(tmp_path, features):
    spec = sensor_spec().model_copy(update={"features": FeaturesSpec(**features)})
    table = _sensor_table(2, seed=3)
    pre = fit_preprocessor(table, spec.features.numeric, spec.features.categorical, spec.target, spec.task)
    torch.manual_seed(0)
    config = ModelConfig(n_numeric=len(pre.numeric_inputs), cardinalities=pre.cardinalities, hidden=(6,),
                         embedding_dim=3, dropout=0.0, n_outputs=pre.n_outputs)
    save_checkpoint(tmp_path / "m.pt", Checkpoint(config, TabularNet(config).state_dict(), pre.to_dict()))
    info = build_bundle(tmp_path / "m.pt", spec, "edge", tmp_path / "bundle")
    assert sorted(info.onnx["inputs"]) == [k for k in ("categorical", "numeric") if features[k]]
    rows = [{k: v for k, v in row.items() if k in features["numeric"] + features["categorical"]}
            for row in _sensor_rows(np.random.default_rng(2), 50)]
    case = Case("edge", spec, tmp_path / "m.pt", tmp_path / "bundle", rows)
    with TestClient(_app(case.bundle)) as client:
        r = client.post("/predict/batch", json={"rows": rows})
    assert r.status_code == 200, r.text
    got = _as_array(r.json()["predictions"], "multiclass", pre.target.classes)
    np.testing.assert_allclose(got, _offline(case, rows), atol=1e-4, rtol=0)


# -- bad requests --------------------------------------------------------------------------------------

def _good_row(flights) -> dict:
    return dict(flights.rows[2])


@pytest.mark.parametrize("change, loc", [
    ({"wind_speed": 3.0}, "wind_speed"),           # unknown field
    ({"distance": "abc"}, "distance"),             # wrong type
    ({"distance": "120"}, "distance"),             # numbers as text are not coerced
    ({"distance": True}, "distance"),
    ({"distance": -5}, "distance"),                # out of the contract's range
    ({"hour": 24}, "hour"),
    ({"distance": 12.5}, "distance"),              # an integer column
    ({"sched_dep_time": 1261}, "sched_dep_time"),  # HHMM clock with 61 minutes
    ({"carrier": "ZZ"}, "carrier"),                # not among the contract's allowed values
    ({"carrier": 7}, "carrier"),
    ({"dest": None}, "dest"),                      # not nullable in the contract
    ({"distance": None}, "distance"),
])
def test_bad_rows_are_422_with_field_errors(flights, change, loc):
    row = {**_good_row(flights), **change}
    with TestClient(_app(flights.bundle)) as client:
        for path, body in (("/predict", row), ("/predict/batch", {"rows": [_good_row(flights), row]})):
            r = client.post(path, json=body)
            assert r.status_code == 422, r.text
            locs = [e["loc"] for e in r.json()["detail"]]
            assert all(at[-1] == loc for at in locs), locs
            assert locs and locs[0][0] == "body"
        missing = {k: v for k, v in _good_row(flights).items() if k != "distance"}
        r = client.post("/predict", json=missing)
        assert r.status_code == 422 and [e["loc"] for e in r.json()["detail"]] == [["body", "distance"]]


def test_malformed_requests_are_4xx(flights):
    with TestClient(_app(flights.bundle, max_batch_rows=5)) as client:
        cases = [
            ("/predict", {}),                                                 # no body at all
            ("/predict", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
            ("/predict", {"content": b"[1, 2]", "headers": {"content-type": "application/json"}}),
            ("/predict", {"content": b"NaN", "headers": {"content-type": "application/json"}}),
            ("/predict", {"content": json.dumps({**_good_row(flights), "distance": float("inf")}).encode(),
                          "headers": {"content-type": "application/json"}}),  # "Infinity": Python's JSON extension
            ("/predict/batch", {"json": {"rows": [_good_row(flights)] * 6}}),   # more than max_batch_rows
            ("/predict/batch", {"json": {"rows": [_good_row(flights)], "extra": 1}}),
            ("/predict/batch", {"json": [_good_row(flights)]}),
            ("/predict", {"content": b"x", "headers": {"content-type": "text/plain"}}),
        ]
        for path, kwargs in cases:
            r = client.post(path, **kwargs)
            assert 400 <= r.status_code < 500, (path, kwargs, r.status_code, r.text)
            assert r.status_code in (400, 422)
        r = client.post("/predict/batch", json={"rows": [_good_row(flights)] * 6})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "too_long"
        assert r.json()["detail"][0]["loc"] == ["body", "rows"]
        r = client.post("/predict/batch", json={"rows": [_good_row(flights)] * 5})
        assert r.status_code == 200 and len(r.json()["predictions"]) == 5
        r = client.post("/predict/batch", json={"rows": []})
        assert r.status_code == 200 and r.json()["predictions"] == []


def test_oversized_bodies_are_413(flights):
    limit = 4096
    with TestClient(_app(flights.bundle, max_body_bytes=limit)) as client:
        rows = {"rows": [_good_row(flights)] * 60}
        body = json.dumps(rows).encode()
        assert len(body) > limit
        r = client.post("/predict/batch", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 413  # refused on the Content-Length header
        # a chunked body has no Content-Length: the streamed bytes are counted
        chunks = iter([body[i:i + 1000] for i in range(0, len(body), 1000)])
        r = client.post("/predict/batch", content=chunks, headers={"content-type": "application/json"})
        assert r.status_code == 413
        # a header that understates the body does not get past the count either
        r = client.post("/predict", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 413
        small = json.dumps({"rows": [_good_row(flights)] * 5}).encode()
        assert len(small) < limit
        r = client.post("/predict/batch", content=iter([small[:100], small[100:]]),
                        headers={"content-type": "application/json"})
        assert r.status_code == 200 and len(r.json()["predictions"]) == 5


# -- batches: the rules column by column, the error cap ----------------------------------------------

DROP = object()  # a change that leaves the feature out

BATCH_RULES = [  # (change, feature, pydantic's error type)
    ({"distance": "120"}, "distance", "float_type"),               # a number as text
    ({"distance": True}, "distance", "float_type"),                # a boolean is no number
    ({"dep_delay": float("inf")}, "dep_delay", "finite_number"),   # Python's JSON extension (NaN likewise)
    ({"hour": 24}, "hour", "less_than_equal"),                     # out of the contract's range
    ({"distance": 0}, "distance", "greater_than_equal"),
    ({"distance": 12.5}, "distance", "value_error"),               # not whole in an integer column
    ({"sched_dep_time": 1261}, "sched_dep_time", "value_error"),   # HHMM clock with 61 minutes
    ({"carrier": "ZZ"}, "carrier", "literal_error"),               # not among the contract's allowed values
    ({"origin": 7}, "origin", "literal_error"),
    ({"dest": 7}, "dest", "string_type"),                          # wrong type for a categorical
    ({"dest": None}, "dest", "string_type"),                       # null for a non-nullable feature
    ({"distance": None}, "distance", "float_type"),
    ({"distance": DROP}, "distance", "missing"),                   # a required feature left out
    ({"wind_speed": 3.0}, "wind_speed", "extra_forbidden"),        # an unknown field
]


def _changed(row: dict, change: dict) -> dict:
    return {k: v for k, v in {**row, **change}.items() if v is not DROP}


def _post_json(client, path: str, body):
    """``body`` as Python's json writes it (Infinity included), which httpx's ``json=`` refuses."""
    return client.post(path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


def test_batch_rules_hold_row_by_row_with_their_locs(flights):
    good = flights.rows[:2 * len(BATCH_RULES)]
    rows = [r for i, (change, _, _) in enumerate(BATCH_RULES) for r in (good[2 * i], _changed(good[2 * i + 1], change))]
    expected = [(["body", "rows", 2 * i + 1, feature], kind) for i, (_, feature, kind) in enumerate(BATCH_RULES)]
    with TestClient(_app(flights.bundle)) as client:
        r = _post_json(client, "/predict/batch", {"rows": rows})
        assert r.status_code == 422, r.text
        assert [(e["loc"], e["type"]) for e in r.json()["detail"]] == expected
        assert r.json()["errors_total"] == len(BATCH_RULES)
        for change, feature, kind in BATCH_RULES:  # each rule alone, in a batch of one
            r = _post_json(client, "/predict/batch", {"rows": [_changed(good[0], change)]})
            assert [(e["loc"], e["type"]) for e in r.json()["detail"]] == [(["body", "rows", 0, feature], kind)]

        # the good rows of that batch: the batch, each row alone and the offline path agree
        valid = rows[0::2]
        r = client.post("/predict/batch", json={"rows": valid})
        assert r.status_code == 200, r.text
        batch = r.json()["predictions"]
        singles = [client.post("/predict", json=row).json()["prediction"] for row in valid]
    np.testing.assert_allclose(batch, singles, atol=1e-9, rtol=0)
    np.testing.assert_allclose(batch, _offline(flights, valid), atol=1e-4, rtol=0)


def test_error_bodies_are_capped_and_count_every_error(flights):
    good = _good_row(flights)
    with TestClient(_app(flights.bundle)) as client:
        rows = [dict(good, distance="x", zz=i) for i in range(500)]  # two errors a row
        r = client.post("/predict/batch", json={"rows": rows})
        body = r.json()
        assert r.status_code == 422 and body["errors_total"] == 1000 and len(body["detail"]) == 20
        assert [e["loc"] for e in body["detail"][:4]] == [["body", "rows", 0, "distance"], ["body", "rows", 0, "zz"],
                                                          ["body", "rows", 1, "distance"], ["body", "rows", 1, "zz"]]
        assert body["detail"][-1]["loc"] == ["body", "rows", 9, "zz"]

        # one row with 5000 unknown fields: a body too big to check on the event loop, capped the same way
        r = client.post("/predict", json={**good, **{f"f{i}": i for i in range(5000)}})
        assert r.status_code == 422 and r.json()["errors_total"] == 5000 and len(r.json()["detail"]) == 20

        # echoed inputs and unknown names are cut short: a 1 MB string stays out of the reply
        r = client.post("/predict", json={**good, "distance": "9" * 1_000_000, "n" * 1000: 1})
        assert r.status_code == 422 and len(r.content) < 2000 and r.json()["errors_total"] == 2
        distance, unknown = r.json()["detail"]
        assert distance["loc"] == ["body", "distance"] and distance["type"] == "float_type"
        assert distance["input"].startswith("999") and len(distance["input"]) < 100
        assert unknown["type"] == "extra_forbidden" and len(unknown["loc"][-1]) < 100
        r = client.post("/predict", json={**good, "distance": list(range(100_000))})
        assert r.json()["detail"][0]["input"] == "<array of 100000 items>"

        # a lone surrogate is valid JSON text to Python: it is echoed escaped, not a 500
        r = client.post("/predict", content=b'{"dest": "\\ud800", "zz": "\\ud800"}',
                        headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"][-1]["loc"] == ["body", "zz"]


def test_long_batches_are_refused_on_their_length(flights):
    with TestClient(_app(flights.bundle, max_batch_rows=5)) as client:
        r = client.post("/predict/batch", json={"rows": [{}] * 6, "extra": 1})  # no row is looked at
        assert r.status_code == 422
        assert [(e["loc"], e["type"]) for e in r.json()["detail"]] == [(["body", "rows"], "too_long"),
                                                                       (["body", "extra"], "extra_forbidden")]
        assert r.json()["detail"][0]["ctx"] == {"field_type": "List", "max_length": 5, "actual_length": 6}
        assert r.json()["errors_total"] == 2


def test_request_encoding_is_the_offline_encoding(case):
    """Bit for bit: the server's NumPy twin (rows and checked columns) and the offline Arrow path."""
    from batch_training.serving.server.columns import Validator
    from batch_training.serving.server.errors import Errors
    from batch_training.serving.server.inputs import Derivation
    from batch_training.serving.server.preprocess import Preprocessing

    ckpt = case.checkpoint
    want = Predictor(ckpt).preprocessor.encode_features(_table(case.rows, case.spec))
    twin = Preprocessing(ckpt.preprocessing)
    metadata = json.loads((case.bundle / "metadata.json").read_text())
    columns = Validator(metadata).check(case.rows, Errors(), lambda i: (i,))
    assert columns is not None
    features = Derivation(metadata).features(columns, len(case.rows))  # e.g. the sensors' local hour
    rows = [{name: values[i] for name, values in features.items()} for i in range(len(case.rows))]
    for got in (twin.encode(rows), twin.encode_columns(features, len(case.rows))):
        for a, b in zip(got, want):
            assert a.dtype == b.dtype and np.array_equal(a, b)


CHECKED_METADATA = {
    "features": {"numeric": ["x", "count", "clock", "free"], "categorical": ["code", "name", "pick", "maybe"]},
    "contract": {  # "free" has no contract entry: nullable, unbounded
        "x": {"type": "float", "min": -1.5, "max": 1e20, "nullable": False},
        "count": {"type": "integer", "min": 1.0, "max": 6000.0, "nullable": False},
        "clock": {"type": "integer", "clock": True, "nullable": True},
        "code": {"type": "integer", "min": 1, "max": 9, "nullable": True},
        "name": {"type": "string", "nullable": False},
        "pick": {"type": "string", "allowed": ["b", "a'q", "c"], "nullable": False},
        "maybe": {"type": "string", "allowed": ["z"], "nullable": True},
    },
}
CHECKED_VALUES = [DROP, None, 0, 1, -1, 9, 10, 0.5, 1.0, -0.0, 12.5, 59.99, 60, 1261, 2359, 2400, 2401, 1e20,
                  1.5e20, -1.5, -1.6, 2 ** 53 + 1, 10 ** 30, 10 ** 400, -(10 ** 400), float("nan"), float("inf"),
                  float("-inf"), True, False, "1", "", "b", "a'q", "z", "B", [], [1], {}, {"a": 1}]


def test_column_checks_agree_with_the_row_model():
    """Every contract value of every feature kind through both: the same rows pass, the same errors
    (loc, type, msg, ctx, input) in the same order, the same values for the model."""
    from fastapi.encoders import jsonable_encoder
    from pydantic import TypeAdapter, ValidationError

    from batch_training.serving.server.columns import Validator
    from batch_training.serving.server.errors import Errors, echo
    from batch_training.serving.server.schema import row_model

    Row = row_model(CHECKED_METADATA)
    base = {"x": 0.5, "count": 3, "clock": 830, "name": "n", "pick": "b"}
    features = CHECKED_METADATA["features"]["numeric"] + CHECKED_METADATA["features"]["categorical"]
    rows = [_changed(base, {f: v}) for f in features for v in CHECKED_VALUES]
    rows += [1, None, "row", [base], {}, {**base, "extra": 1, "zz": None}, {"x": "a", "count": 0, "pick": 1, "q": 2}]

    try:
        TypeAdapter(list[Row]).validate_python(rows, from_attributes=True)  # as FastAPI validates a body
        want = []
    except ValidationError as exc:
        want = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"], "input": echo(e["input"]),
                 **({"ctx": jsonable_encoder(e["ctx"])} if "ctx" in e else {})} for e in exc.errors()]
    errors = Errors(limit=10 ** 6)
    assert Validator(CHECKED_METADATA).check(rows, errors, lambda i: (i,)) is None
    assert errors.entries == want and errors.total == len(want) > 100

    valid = [r for r in rows if isinstance(r, dict) and _passes(Row, r)]
    assert len(valid) > 50
    columns = Validator(CHECKED_METADATA).check(valid, Errors(), lambda i: (i,))
    dumped = [Row.model_validate(r).model_dump(by_alias=True) for r in valid]
    for name in features:
        got, want_ = columns[name], [d[name] for d in dumped]
        if name in CHECKED_METADATA["features"]["numeric"]:
            assert np.array_equal(got, np.array(want_, dtype=np.float64), equal_nan=True), name
        else:
            assert got == want_, name


def _passes(model, row: dict) -> bool:
    from pydantic import ValidationError

    try:
        model.model_validate(row)
        return True
    except ValidationError:
        return False


def test_openapi_documents_the_request_bodies(flights):
    with TestClient(_app(flights.bundle)) as client:
        document = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    schemas = document["components"]["schemas"]
    for path, model in (("/predict", "Row"), ("/predict/batch", "BatchRequest")):
        body = document["paths"][path]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
        assert "200" in document["paths"][path]["post"]["responses"]
    assert set(schemas["Row"]["properties"]) == {"dep_delay", "sched_dep_time", "distance", "hour", "carrier",
                                                 "origin", "dest"}
    assert schemas["Row"]["additionalProperties"] is False
    assert schemas["BatchRequest"]["properties"]["rows"]["maxItems"] == 10_000


# -- health, readiness, metadata -----------------------------------------------------------------------

def test_health_ready_and_metadata(flights):
    app = _app(flights.bundle)
    client = TestClient(app)  # not entered: the lifespan (model load + warm-up) has not run
    assert client.get("/health").json() == {"status": "ok"}
    r = client.get("/ready")
    assert r.status_code == 503 and r.json()["status"] == "loading"
    r = client.post("/predict", json=_good_row(flights))
    assert r.status_code == 503
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        r = client.get("/ready")
        assert r.status_code == 200 and r.json() == {"status": "ready", "model_version": "flights-v1"}
        meta = client.get("/metadata").json()
    assert meta["model_version"] == meta["version"] == "flights-v1"
    assert meta["spec"] == "flights_delay" and meta["task"] == "regression" and meta["target"] == "arr_delay"
    assert meta["features"] == {"numeric": ["dep_delay", "sched_dep_time", "distance", "hour"],
                                "categorical": ["carrier", "origin", "dest"]}
    assert meta["contract"]["distance"] == {"type": "integer", "min": 1.0, "max": 6000.0, "allowed": None,
                                            "nullable": False, "clock": False}
    assert meta["contract"]["dep_delay"]["nullable"] is True
    assert meta["contract"]["origin"]["allowed"] == ["EWR", "JFK", "LGA"]
    assert meta["lineage"] == {"spec": "flights_delay", "days": 3}
    assert meta["metrics"] == {"mae": 12.5}
    assert meta["limits"] == {"max_body_bytes": 4 * 1_048_576, "max_batch_rows": 10_000}
    assert meta["onnx"]["inputs"] == {"numeric": ["batch", 5], "categorical": ["batch", 3]}  # 4 + dep_delay__missing


def test_server_package_imports_no_torch_pyarrow_or_project(sensors):
    code = (
        "import sys\n"
        "from server import create_app\n"
        "from fastapi.testclient import TestClient\n"
        "with TestClient(create_app('.')) as c:\n"
        "    r = c.post('/predict', json={'temperature_c': 20.0, 'battery_pct': 50, 'sensor': 's1', "
        "'read_at': '2024-03-02T10:00:00+01:00', 'calibration.offset_c': 1.5})\n"
        "    assert r.status_code == 200, r.text\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'pyarrow', 'pandas', 'batch_training', 'dagster'))\n"
        "print('BAD', bad)\n"
        "print('OK', 'onnxruntime' in sys.modules, 'fastapi' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=sensors.bundle, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "BAD []" in out.stdout and "OK True True" in out.stdout, out.stdout


# -- bundles -------------------------------------------------------------------------------------------

def test_bundle_contents_and_content_hash(flights, tmp_path):
    first = build_bundle(flights.checkpoint_path, flights.spec, "v7", tmp_path / "a", {"mae": 1.0})
    second = build_bundle(flights.checkpoint_path, flights.spec, "v7", tmp_path / "b", {"mae": 1.0})
    assert first.content_hash == second.content_hash == content_hash(tmp_path / "a")
    assert len(first.content_hash) == 64
    for name in ("model.onnx", "preprocessing.json", "metadata.json", "requirements.txt", "Dockerfile",
                 "server/__init__.py", "server/__main__.py", "server/app.py", "server/preprocess.py",
                 "server/schema.py", "server/model.py"):
        assert name in first.files and (tmp_path / "a" / name).is_file(), name
    assert not any("__pycache__" in f for f in first.files)
    assert first.files == second.files and first.version == "v7" and first.onnx["max_abs_diff"] < 1e-4
    assert first.to_dict()["path"] == str(tmp_path / "a") and json.dumps(first.to_dict())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary folders left

    # rebuilding in place replaces the folder whole
    again = build_bundle(flights.checkpoint_path, flights.spec, "v7", tmp_path / "a", {"mae": 1.0})
    assert again.content_hash == first.content_hash

    # another checkpoint (other weights), another version or other metrics: another hash
    other_ckpt = flights.checkpoint
    other_ckpt.state_dict = {k: v + 0.01 for k, v in other_ckpt.state_dict.items()}
    save_checkpoint(tmp_path / "other.pt", other_ckpt)
    other = build_bundle(tmp_path / "other.pt", flights.spec, "v7", tmp_path / "c", {"mae": 1.0})
    assert other.content_hash != first.content_hash
    assert (tmp_path / "c" / "model.onnx").read_bytes() != (tmp_path / "a" / "model.onnx").read_bytes()
    assert build_bundle(flights.checkpoint_path, flights.spec, "v8", tmp_path / "d", {"mae": 1.0}).content_hash \
        != first.content_hash

    requirements = (tmp_path / "a" / "requirements.txt").read_text().split()
    assert requirements == bundle_requirements()
    assert {r.split("==")[0] for r in requirements} >= {"numpy", "onnxruntime", "fastapi", "pydantic", "uvicorn"}
    assert all(r.count("==") == 1 and r.split("==")[1][0].isdigit() for r in requirements)
    import onnxruntime
    assert f"onnxruntime=={onnxruntime.__version__}" in requirements

    dockerfile = (tmp_path / "a" / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in dockerfile and "FROM ${BASE_IMAGE}" in dockerfile
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile and "EXPOSE 8080" in dockerfile
    assert "USER 10001" in dockerfile
    assert dockerfile.rstrip().endswith(
        'CMD ["python", "-m", "server", "--bundle", "/srv/model", "--host", "0.0.0.0", "--port", "8080"]')
    assert json.loads((tmp_path / "a" / "preprocessing.json").read_text()) == flights.checkpoint.preprocessing


def test_bundle_refuses_a_spec_that_does_not_match_the_checkpoint(flights, sensors, tmp_path):
    with pytest.raises(ValueError, match="features"):
        build_bundle(flights.checkpoint_path, sensors.spec, "v1", tmp_path / "x")
    assert not (tmp_path / "x").exists()


# -- the real server process ---------------------------------------------------------------------------



def test_real_server_process(flights, tmp_path):
    port = free_port()
    log = open(tmp_path / "server.log", "wb")  # a file, not a pipe nobody drains
    proc = subprocess.Popen([sys.executable, "-m", "server", "--bundle", ".", "--port", str(port)],
                            cwd=flights.bundle, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{base}/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        row = flights.rows[0]
        request = urllib.request.Request(f"{base}/predict", data=json.dumps(row).encode(),
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            body = json.loads(r.read())
        want = _offline(flights, [row])[0]
        assert body["model_version"] == "flights-v1" and abs(body["prediction"] - want) < 1e-4
        bad = urllib.request.Request(f"{base}/predict", data=b'{"distance": -5}',
                                     headers={"content-type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad, timeout=10)
        assert err.value.code == 422
        err.value.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_row_schema_for_integer_codes_and_awkward_feature_names():
    from pydantic import ValidationError

    from batch_training.serving.server.schema import row_model

    Row = row_model({"features": {"numeric": ["model_id"], "categorical": ["code", "copy"]},
                     "contract": {"model_id": {"type": "float", "nullable": True},
                                  "code": {"type": "integer", "min": 1, "max": 9, "nullable": True},
                                  "copy": {"type": "string"}}})
    assert Row.model_validate({"code": 3, "copy": "x"}).model_dump(by_alias=True) == \
        {"model_id": None, "code": 3, "copy": "x"}
    for bad, loc, kind in (({"code": "3", "copy": "x"}, "code", "int_type"),
                           ({"code": 10, "copy": "x"}, "code", "less_than_equal"),
                           ({"copy": 1}, "copy", "string_type"),
                           ({"model_id": float("nan"), "copy": "x"}, "model_id", "finite_number")):
        with pytest.raises(ValidationError) as err:
            Row.model_validate(bad)
        assert [(e["loc"], e["type"]) for e in err.value.errors()] == [((loc,), kind)]


# --- the flagship: joined columns and derived features as request inputs -------------------------------
def _flagship_table(rng: np.random.Generator, n: int) -> pa.Table:
    """Raw flagship columns (main and weather.*) as the training dataset holds them, before derivation."""
    import datetime as dt

    dep = rng.normal(10, 30, n).round()
    sched_dep = rng.choice([0, 559, 830, 1200, 1545, 2100, 2359], n).astype(np.int64)
    block = rng.integers(60, 400, n)
    arr_minutes = (sched_dep // 100 * 60 + sched_dep % 100 + block) % 1440
    return pa.table({
        "flight_date": pa.array([dt.date(2013, 3, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 60, n)]),
        "dep_delay": pa.array([None if rng.random() < 0.05 else float(v) for v in dep], pa.float64()),
        "sched_dep_time": sched_dep, "sched_arr_time": (arr_minutes // 60 * 100 + arr_minutes % 60).astype(np.int64),
        "distance": rng.integers(100, 3000, n),
        "carrier": rng.choice(FLIGHT_CARRIERS, n), "origin": rng.choice(["EWR", "JFK", "LGA"], n),
        "dest": rng.choice(FLIGHT_DESTS, n),
        **{f"weather.{c}": pa.array([None if rng.random() < 0.05 else float(v) for v in rng.uniform(lo, hi, n)])
           for c, lo, hi in [("temp", 10, 90), ("dewp", 0, 70), ("humid", 20, 100), ("wind_speed", 0, 40),
                             ("precip", 0, 1), ("pressure", 990, 1040), ("visib", 0, 10)]},
        "arr_delay": (dep + rng.normal(-5, 10, n)).round(),
    })


def test_derived_and_joined_inputs_are_served_as_trained(tmp_path):
    """The flagship's server takes the raw fields: the joined weather as ``weather.<column>`` and the
    columns its derived features come from (``flight_date``, the HHMM clocks); it derives the features
    with the training code's own module, so its predictions are the offline ones."""
    from batch_training.features.columns import request_rows
    from batch_training.features.derive import add_derived

    spec = load_spec(builtin_spec_dir() / "flights_delay.yaml")
    rng = np.random.default_rng(4)
    train, holdout = (add_derived(_flagship_table(rng, n), spec, after_joins=False) for n in (1500, 300))
    ckpt = _fit(spec, train, holdout)
    save_checkpoint(tmp_path / "model.pt", ckpt)
    bundle = tmp_path / "bundle"
    build_bundle(tmp_path / "model.pt", spec, "flagship-v1", bundle, {"mae": 12.0})
    metadata = json.loads((bundle / "metadata.json").read_text())
    assert metadata["inputs"]["dates"] == ["flight_date"] and "weather.temp" in metadata["inputs"]["numeric"]
    assert "sched_dep_minutes" not in metadata["inputs"]["numeric"] and set(metadata["derived"]) == {
        "sched_dep_minutes", "sched_arr_minutes", "block_minutes", "speed", "dep_hour", "weekday"}
    assert metadata["contract"]["weather.wind_speed"]["max"] == 150  # the joined table's contract

    rows = request_rows(spec, holdout)
    assert rows[0]["flight_date"] == holdout.column("flight_date")[0].as_py().isoformat()
    with TestClient(_app(bundle)) as client:
        body = client.post("/predict/batch", json={"rows": rows}).json()
        np.testing.assert_allclose(body["predictions"], Predictor(ckpt)(holdout), rtol=1e-5, atol=1e-4)
        single = client.post("/predict", json=rows[7]).json()["prediction"]
        assert single == pytest.approx(body["predictions"][7], abs=1e-9)
        bad = dict(rows[0], **{"weather.wind_speed": 1048.4, "flight_date": "2013-02-30"})
        errors = client.post("/predict", json=bad).json()["detail"]
        assert {tuple(e["loc"]): e["type"] for e in errors} == {
            ("body", "weather.wind_speed"): "less_than_equal", ("body", "flight_date"): "value_error"}
        missing = {k: v for k, v in rows[0].items() if k != "sched_arr_time"}
        assert client.post("/predict", json=missing).json()["detail"][0]["loc"] == ["body", "sched_arr_time"]
        derived_given = dict(rows[0], weekday="3")  # a derived feature is computed, never taken
        assert client.post("/predict", json=derived_given).json()["detail"][0]["type"] == "extra_forbidden"
