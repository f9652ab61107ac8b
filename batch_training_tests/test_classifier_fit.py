"""Classifiers end to end in the core: the positive class through training, the decision threshold
chosen on validation rows only, the gate against degenerate models, the report's precision–recall
plot and the prediction server's labels at the threshold."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest
import torch

from batch_training.candidate import Predictor, fit_candidate
from batch_training.candidate.evaluate import evaluate
from batch_training.candidate.fit import validation_rows
from batch_training.evaluation import choose_threshold, constant_prediction, rank_auc, write_report
from batch_training.features import fit_preprocessor
from batch_training.features.dataset import LoadedDataset
from batch_training.serving.server.preprocess import Preprocessing
from batch_training.training import Checkpoint
from batch_training_tests.support.sensors import alert_readings, assembled, binary_sensor_spec, sensor_readings, sensor_spec

SPEC = binary_sensor_spec()
DAY_ROWS = 96  # 4 sensors x 24 hours


def _data(spec, readings: pa.Table, train_days: int = 6) -> LoadedDataset:
    table = assembled(spec, readings, dt.date(2024, 3, 1), readings.num_rows // DAY_ROWS)
    train, holdout = table.slice(0, train_days * DAY_ROWS), table.slice(train_days * DAY_ROWS)
    pre = fit_preprocessor(train, spec.features.numeric, spec.features.categorical, spec.target, spec.task,
                           spec.positive_class)
    return LoadedDataset(train, holdout, pre, {"as_of": "2024-03-09"})


def _fit(data: LoadedDataset, spec=SPEC, **update) -> Checkpoint:
    return fit_candidate(data, spec.model.model_copy(update=update), {"spec": spec.name}).checkpoint


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # As in test_training: these nets are tiny, and more threads only contend (and vary the last bits).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def alerts():
    data = _data(SPEC, alert_readings(dt.date(2024, 3, 1), 8))
    return data, _fit(data)


def test_a_positive_class_that_sorts_first_is_the_one_the_model_predicts(alerts):
    data, ckpt = alerts
    assert ckpt.preprocessing["target"]["classes"] == ["ok", "alert"]  # sorted order would be the reverse
    proba = Predictor(ckpt)(data.holdout)
    is_alert = np.array(data.holdout.column("status").to_pylist()) == "alert"
    assert 0.1 < is_alert.mean() < 0.3
    assert rank_auc(is_alert, proba[:, 1]) > 0.8  # column 1, the single logit's class, is "alert" (reversed: < 0.2)
    report, _, _ = evaluate(SPEC, data, Predictor(ckpt))
    assert report["decision_threshold"]["positive_class"] == "alert"
    assert report["candidate"]["recall"] == pytest.approx(
        np.mean(proba[is_alert, 1] >= report["decision_threshold"]["candidate_threshold"]))


def test_the_threshold_is_chosen_on_validation_rows_and_the_holdout_never_shapes_it():
    """Like test_serving's test_the_holdout_never_shapes_the_fit: another holdout, the same threshold."""
    train = alert_readings(dt.date(2024, 3, 1), 4)
    one, other = (_fit(_data(SPEC, pa.concat_tables([train, alert_readings(dt.date(2024, 3, 5), 2, seed=s)]), 4))
                  for s in (1, 2))
    assert one.metadata["decision_threshold"] == other.metadata["decision_threshold"]
    chosen = one.metadata["decision_threshold"]
    assert one.preprocessing["target"]["threshold"] == chosen["threshold"]  # what the evaluation and server read
    # recomputed by hand: the rule over the validation rows' probabilities, nothing else
    _, valid = validation_rows(train.num_rows, SPEC.model.validation_fraction, SPEC.model.seed)
    rows = assembled(SPEC, train, dt.date(2024, 3, 1), 4).take(pa.array(valid))
    want = choose_threshold(np.array(rows.column("status").to_pylist()) == "alert", Predictor(one)(rows)[:, 1])
    assert chosen == want.to_dict() and chosen["rows"] == len(valid) and chosen["f1"] > 0
    assert Predictor(one).threshold == chosen["threshold"] != 0.5


def test_a_binary_candidate_passes_its_gate_with_metrics_at_its_threshold(alerts, tmp_path):
    data, ckpt = alerts
    candidate = Predictor(ckpt)
    report, pngs, decision = evaluate(SPEC, data, candidate)
    assert decision.passed, decision.reasons
    assert [c["rule"] for c in decision.checks] == ["not_degenerate", "beats_class_prior", "auc_above_chance",
                                                    "not_worse_than_champion", "slices"]
    y = np.array(data.holdout.column("status").to_pylist()) == "alert"
    label = candidate(data.holdout)[:, 1] >= candidate.threshold
    tp, fp, fn = np.sum(label & y), np.sum(label & ~y), np.sum(~label & y)
    assert report["candidate"]["precision"] == pytest.approx(tp / (tp + fp))
    assert report["candidate"]["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert report["candidate"]["accuracy"] == pytest.approx(np.mean(label == y))
    # the class prior labels every row positive (its one probability is the rule's threshold)
    constant = report["baselines"]["constant"]
    assert constant["recall"] == 1.0 and constant["predicted_classes"] == 1
    # the same model as champion: read at its own stored threshold, so the same labels and no regression
    report_c, _, decision = evaluate(SPEC, data, candidate, champion=Predictor(ckpt), champion_info={"version": "v1"})
    assert report_c["decision_threshold"]["champion_threshold"] == candidate.threshold
    assert report_c["champion"]["f1"] == report_c["candidate"]["f1"] and decision.passed
    paths = write_report(tmp_path, report, pngs)
    assert paths["precision_recall.png"].read_bytes().startswith(b"\x89PNG")
    assert "![precision_recall.png](precision_recall.png)" in paths["report.md"].read_text()


class _PriorStub(Predictor):
    """A degenerate model: the training class shares for every row."""

    def __init__(self, checkpoint: Checkpoint, priors: np.ndarray):
        super().__init__(checkpoint)
        self.priors = priors

    def __call__(self, table: pa.Table) -> np.ndarray:
        return np.tile(self.priors, (table.num_rows, 1))


def test_a_model_that_labels_every_row_alike_is_rejected(alerts):
    data, ckpt = alerts
    # the trained model's own probabilities, behind a threshold no row reaches: only the labels are wrong
    target = {**ckpt.preprocessing["target"], "threshold": 1.01}
    above_all = Checkpoint(**{**vars(ckpt), "preprocessing": {**ckpt.preprocessing, "target": target}})
    _, _, decision = evaluate(SPEC, data, Predictor(above_all))
    assert not decision.passed
    assert decision.reasons == ["The candidate is degenerate: it predicts one class for every holdout row: all "
                                f"{data.holdout.num_rows} holdout rows get the same label (at the decision threshold)."]
    # the class prior itself: its log loss ties the baseline's, which a margin of 0 lets pass; the
    # degenerate and AUC rules are what refuse it
    priors = constant_prediction("binary", data.preprocessor.encode_target(data.train.column("status")), 1)[0]
    report, _, decision = evaluate(SPEC, data, _PriorStub(ckpt, priors))
    assert report["candidate"]["log_loss"] == pytest.approx(report["baselines"]["constant"]["log_loss"])
    assert [c["rule"] for c in decision.checks if not c["passed"]] == ["not_degenerate", "auc_above_chance"]


def test_a_multiclass_prior_stub_is_degenerate_at_argmax_and_the_real_model_passes():
    spec = sensor_spec()
    data = _data(spec, sensor_readings(dt.date(2024, 3, 1), 8))
    ckpt = _fit(data, spec)
    _, pngs, decision = evaluate(spec, data, Predictor(ckpt))
    assert decision.passed, decision.reasons
    assert "precision_recall.png" in pngs
    report, _, decision = evaluate(spec, data, _PriorStub(ckpt, np.array([0.1, 0.05, 0.85])))
    assert report["candidate"]["predicted_classes"] == 1 and report["candidate"]["auc"] == 0.5
    assert any(r.startswith("The candidate is degenerate") and r.endswith("(at argmax).") for r in decision.reasons)
    assert "decision_threshold" not in report


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


@pytest.mark.parametrize("threshold, labels", [(0.3, ["ok", "alert", "alert", "alert"]),
                                               (None, ["ok", "ok", "ok", "alert"])])  # an old document: 0.5
def test_the_server_labels_at_the_stored_threshold(alerts, threshold, labels):
    _, ckpt = alerts
    document = {**ckpt.preprocessing, "target": {**ckpt.preprocessing["target"], "threshold": threshold}}
    p = [0.2, 0.3, 0.4, 0.6]
    out = Preprocessing(document).decode(np.array([[_logit(v)] for v in p], dtype=np.float32))
    assert [o["label"] for o in out] == labels
    assert [o["probabilities"]["alert"] for o in out] == pytest.approx(p, abs=1e-6)  # probabilities unchanged
    assert [o["probabilities"]["ok"] for o in out] == pytest.approx([1 - v for v in p], abs=1e-6)
