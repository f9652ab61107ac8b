"""The model options of a spec, offline and served: a seed ensemble averaged in one network (and one
ONNX graph), a regression learnt as the difference from a feature (``residual_of``), and numeric
inputs clipped to the training quantiles (``clip_inputs``)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import torch
from fastapi.testclient import TestClient

from batch_training.candidate import Predictor, fit_candidate
from batch_training.candidate.fit import _train_member, to_batch
from batch_training.candidate.members import train_members
from batch_training.features import fit_preprocessor
from batch_training.features.dataset import LoadedDataset
from batch_training.serving import build_bundle
from batch_training.training import (
    EnsembleNet,
    ModelConfig,
    TabularNet,
    build_model,
    load_checkpoint,
    save_checkpoint,
)
from batch_training.training.trainer import TrainingDiverged
from batch_training_tests.test_serving import _app, _flights_rows, _flights_table, plain_flights_spec


def _spec(**model):
    spec = plain_flights_spec()
    return spec.model_copy(update={"model": spec.model.model_copy(update={"epochs": 3, **model})})


def _fit(spec, train: pa.Table, holdout: pa.Table):
    m = spec.model
    pre = fit_preprocessor(train, spec.features.numeric, spec.features.categorical, spec.target, spec.task,
                           offset=m.residual_of, clip=m.clip_inputs)
    return fit_candidate(LoadedDataset(train, holdout, pre, {"as_of": "2024-01-01"}), m, {"spec": spec.name})


@pytest.fixture(scope="module")
def tables():
    rng = np.random.default_rng(3)
    return _flights_table(rng, 1500), _flights_table(rng, 300)


def _served(tmp_path, spec, checkpoint, rows: list[dict]) -> np.ndarray:
    save_checkpoint(tmp_path / "model.pt", checkpoint)
    build_bundle(tmp_path / "model.pt", spec, "v1", tmp_path / "bundle", {"mae": 1.0})
    with TestClient(_app(tmp_path / "bundle")) as client:
        body = client.post("/predict/batch", json={"rows": rows})
        assert body.status_code == 200, body.text
        return np.array(body.json()["predictions"])


def test_an_ensemble_averages_its_members_in_one_network_and_one_onnx_graph(tables, tmp_path):
    train, holdout = tables
    spec = _spec(ensemble=3)
    outcome = _fit(spec, train, holdout)
    assert len(outcome.results) == 3 and outcome.checkpoint.model_config.members == 3
    model = build_model(outcome.checkpoint)
    assert isinstance(model, EnsembleNet) and len(model.members) == 3
    members = []
    for i, result in enumerate(outcome.results):  # each member, rebuilt from its own part of the weights
        net = TabularNet(outcome.checkpoint.model_config.member())
        net.load_state_dict({k.removeprefix(f"members.{i}."): v for k, v in outcome.checkpoint.state_dict.items()
                             if k.startswith(f"members.{i}.")})
        assert all(torch.equal(result.state_dict[k], v) for k, v in net.state_dict().items())
        members.append(net.eval())
    pre = Predictor(outcome.checkpoint).preprocessor
    numeric, categorical = (torch.from_numpy(a) for a in pre.encode_features(holdout))
    with torch.no_grad():
        outputs = [m(numeric, categorical) for m in members]
        torch.testing.assert_close(model(numeric, categorical), torch.stack(outputs).mean(0))
    assert not torch.equal(outputs[0], outputs[1])  # different seeds, different networks
    assert {h["member"] for h in outcome.checkpoint.history} == {0, 1, 2}
    rows = _flights_rows(np.random.default_rng(8), 120)
    from batch_training_tests.test_serving import _table

    np.testing.assert_allclose(_served(tmp_path, spec, outcome.checkpoint, rows),
                               Predictor(load_checkpoint(tmp_path / "model.pt"))(_table(rows, spec)), rtol=1e-5, atol=1e-4)


class _Epochs:
    def __init__(self):
        self.seen = []

    def on_member_start(self, i: int, n: int) -> None:
        self.seen.append(("member", i, n))

    def on_epoch_end(self, stats) -> None:
        self.seen.append(("epoch", stats.epoch, stats.valid_loss))


def test_members_trained_in_processes_of_their_own_are_the_same_networks(tables):
    """Members trained two at a time in spawned workers have the same weights, bit for bit, as one
    after the other in this process; their epochs reach the callbacks in member order."""
    train, holdout = tables
    spec = _spec(ensemble=3, epochs=2, patience=1)
    m = spec.model
    pre = fit_preprocessor(train, spec.features.numeric, spec.features.categorical, spec.target, spec.task)
    data = LoadedDataset(train, holdout, pre, {"as_of": "2024-01-01"})
    one, two = _Epochs(), _Epochs()
    alone = fit_candidate(data, m, {"spec": spec.name}, callbacks=[one])
    together = fit_candidate(data, m.model_copy(update={"processes": 2}), {"spec": spec.name}, callbacks=[two])
    assert alone.checkpoint.state_dict.keys() == together.checkpoint.state_dict.keys()
    assert all(torch.equal(v, together.checkpoint.state_dict[k]) for k, v in alone.checkpoint.state_dict.items())
    assert [e[:2] for e in two.seen] == [e[:2] for e in one.seen]
    assert [e for e in two.seen if e[0] == "member"] == [("member", i, 3) for i in range(3)]
    assert [h["valid_loss"] for h in together.checkpoint.history] == [h["valid_loss"] for h in alone.checkpoint.history]


def _second_member_fails(config, train, valid, model, i, task, callbacks, device):
    """A member's training as ``train_members`` calls it in a worker; the second one raises."""
    if i == 1:
        raise TrainingDiverged(f"member {i}: loss nan on {len(train)} rows")
    return _train_member(config, train, valid, model, i, task, callbacks, device)


def test_a_member_failing_in_its_worker_fails_the_fit_with_its_own_error(tables):
    train, holdout = tables
    spec = _spec(ensemble=3, epochs=1, processes=2)
    pre = fit_preprocessor(train, spec.features.numeric, spec.features.categorical, spec.target, spec.task)
    batch = to_batch(pre, train)
    config = ModelConfig(n_numeric=len(pre.numeric_inputs), cardinalities=pre.cardinalities, hidden=(8,),
                         embedding_dim=4, dropout=0.0, n_outputs=1)
    seen = _Epochs()
    with pytest.raises(TrainingDiverged, match=f"member 1: loss nan on {len(batch)} rows"):
        train_members(_second_member_fails, config, batch, batch, spec.model, "regression", [seen], None)
    assert [e for e in seen.seen if e[0] == "member"] == [("member", 0, 3)]  # the first one's epochs, then the error


def test_a_residual_target_is_learnt_as_the_difference_and_added_back(tables, tmp_path):
    train, holdout = tables
    spec = _spec(residual_of="dep_delay")
    outcome = _fit(spec, train, holdout)
    target = outcome.checkpoint.preprocessing["target"]
    dep = train.column("dep_delay").to_numpy(zero_copy_only=False)
    assert target["offset"] == "dep_delay" and target["offset_fill"] == pytest.approx(float(np.nanmedian(dep)))
    predictor = Predictor(outcome.checkpoint)
    from batch_training.training import predict

    def network(table: pa.Table) -> np.ndarray:  # the network's own output, in the target's units
        raw = predict(predictor.model, *(torch.from_numpy(a) for a in predictor.preprocessor.encode_features(table)))
        return raw[:, 0].astype(np.float64) * target["scale"] + target["shift"]

    offset = holdout.column("dep_delay").to_numpy(zero_copy_only=False)
    filled = np.where(np.isfinite(offset), offset, target["offset_fill"])  # a missing offset: the training median
    np.testing.assert_allclose(predictor(holdout), network(holdout) + filled, rtol=0, atol=1e-9)
    assert np.isnan(offset).any()
    rows = _flights_rows(np.random.default_rng(9), 150)  # with gaps in dep_delay
    from batch_training_tests.test_serving import _table

    np.testing.assert_allclose(_served(tmp_path, spec, outcome.checkpoint, rows), predictor(_table(rows, spec)),
                               rtol=1e-5, atol=1e-4)
    # the difference the network learns is small next to the departure delay it starts from
    y = holdout.column("arr_delay").to_numpy(zero_copy_only=False)
    assert np.mean(np.abs(predictor(holdout) - y)) < np.mean(np.abs(y - np.nanmean(y)))


def test_clipped_inputs_are_not_extrapolated_offline_nor_served(tables, tmp_path):
    train, holdout = tables
    spec = _spec(clip_inputs=0.01)
    outcome = _fit(spec, train, holdout)
    distance = next(f for f in outcome.checkpoint.preprocessing["numeric"] if f["name"] == "distance")
    values = train.column("distance").to_numpy(zero_copy_only=False)
    assert (distance["low"], distance["high"]) == (pytest.approx(np.quantile(values, 0.01)),
                                                   pytest.approx(np.quantile(values, 0.99)))
    predictor = Predictor(outcome.checkpoint)
    row = holdout.slice(0, 1)
    at = lambda d: row.set_column(row.schema.get_field_index("distance"), "distance", pa.array([d], pa.int64()))  # noqa: E731
    assert predictor(at(5999))[0] == pytest.approx(predictor(at(int(np.ceil(distance["high"]))))[0], abs=1e-9)
    rows = [dict(r, distance=5999) for r in _flights_rows(np.random.default_rng(10), 40)]
    from batch_training_tests.test_serving import _table

    np.testing.assert_allclose(_served(tmp_path, spec, outcome.checkpoint, rows), predictor(_table(rows, spec)),
                               rtol=1e-5, atol=1e-4)
    assert json.loads((tmp_path / "bundle" / "preprocessing.json").read_text())["numeric"][2]["high"] == distance["high"]
