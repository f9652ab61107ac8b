"""Preprocessing (fit on training rows, JSON round trip, out-of-vocabulary) and training windows."""

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pytest

from batch_training.features import NotEnoughDays, Preprocessor, TargetClassesError, first_as_of_day, fit_preprocessor, window_for
from batch_training.spec.training import SplitSpec

TRAIN = pa.table({
    "x": [1.0, 2.0, None, 5.0],
    "c": ["a", "b", "a", None],
    "y": [10.0, 20.0, 30.0, 40.0],
    "label": ["ok", "bad", "ok", "ok"],
})


def test_numeric_scaling_and_missing_indicator_are_fitted_on_training_rows():
    pre = fit_preprocessor(TRAIN, ["x"], ["c"], "y", "regression")
    x = pre.numeric[0]
    assert (x.mean, x.std, x.missing_indicator) == (pytest.approx(8 / 3), pytest.approx(np.std([1, 2, 5])), True)
    numeric, _ = pre.encode_features(pa.table({"x": [8 / 3, None], "c": ["a", "a"]}))
    assert numeric.shape == (2, 2) and pre.numeric_inputs == ["x", "x__missing"]
    np.testing.assert_allclose(numeric, [[0.0, 0.0], [0.0, 1.0]], atol=1e-6)


def test_vocabulary_is_by_frequency_and_unseen_or_missing_values_go_to_bucket_zero():
    pre = fit_preprocessor(TRAIN, ["x"], ["c"], "y", "regression")
    assert pre.categorical[0].vocabulary == ["a", "b"] and pre.cardinalities == (3,)
    _, cats = pre.encode_features(pa.table({"x": [1.0, 1.0, 1.0, 1.0], "c": ["a", "b", "zzz", None]}))
    assert cats[:, 0].tolist() == [1, 2, 0, 0]


def test_regression_target_round_trips_through_scaling():
    pre = fit_preprocessor(TRAIN, ["x"], ["c"], "y", "regression")
    encoded = pre.encode_target(TRAIN.column("y"))
    np.testing.assert_allclose(pre.decode_regression(encoded), [10, 20, 30, 40], rtol=1e-6)
    assert (pre.target.shift, pre.target.scale) == (25.0, 10.0)


def test_class_labels_map_to_indices_and_unseen_classes_to_minus_one():
    pre = fit_preprocessor(TRAIN, ["x"], ["c"], "label", "binary", positive_class="ok")
    assert pre.target.classes == ["bad", "ok"] and pre.n_outputs == 1
    assert pre.encode_target(pa.chunked_array([["ok", "bad", "weird", None]])).tolist() == [1, 0, -1, -1]
    multi = fit_preprocessor(TRAIN, ["x"], ["c"], "label", "multiclass")
    assert multi.target.classes == ["bad", "ok"] and multi.n_outputs == 2  # multiclass: sorted


def test_binary_classes_are_negative_then_positive_whatever_their_spelling():
    """"bad" sorts first: sorted order would make "ok" the model's positive class."""
    pre = fit_preprocessor(TRAIN, ["x"], ["c"], "label", "binary", positive_class="bad")
    assert pre.target.classes == ["ok", "bad"] and pre.target.positive_class == "bad"
    assert pre.encode_target(TRAIN.column("label")).tolist() == [0, 1, 0, 0]
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again.target.classes == ["ok", "bad"] and again.target.decision_threshold == 0.5  # not fitted yet
    with pytest.raises(ValueError, match="positive_class"):
        fit_preprocessor(TRAIN, ["x"], ["c"], "label", "binary")


@pytest.mark.parametrize("rows, positive, message", [
    (TRAIN.slice(0, 1), "ok", r"needs 2 classes in training, 'label' has \['ok'\]"),   # one class only
    (TRAIN.slice(0, 1), "bad", r"needs 2 classes in training, 'label' has \['ok'\]"),
    (TRAIN, "good", r"positive class 'good' of target 'label' is absent from the training rows, which hold"),
])
def test_a_window_without_both_classes_is_a_data_error(rows, positive, message):
    with pytest.raises(TargetClassesError, match=message) as info:
        fit_preprocessor(rows, ["x"], ["c"], "label", "binary", positive_class=positive)
    assert info.value.failure_class == "data"
    with pytest.raises(TargetClassesError, match="fewer than 2 classes"):
        fit_preprocessor(TRAIN.slice(0, 1), ["x"], ["c"], "label", "multiclass")


def test_json_round_trip_gives_identical_encodings():
    pre = fit_preprocessor(TRAIN, ["x"], ["c"], "label", "multiclass")
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    a, b = pre.encode(TRAIN), again.encode(TRAIN)
    np.testing.assert_array_equal(a.numeric, b.numeric)
    np.testing.assert_array_equal(a.categorical, b.categorical)
    np.testing.assert_array_equal(a.target, b.target)
    with pytest.raises(ValueError, match="not a batch_training preprocessing"):
        Preprocessor.from_dict({**pre.to_dict(), "format": "something/else"})


def test_feature_without_any_training_value_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        fit_preprocessor(pa.table({"x": pa.array([None, None], pa.float64()), "y": [1.0, 2.0]}), ["x"], [], "y", "regression")


SPLIT = SplitSpec(window_days=10, holdout_days=3, min_train_days=4)


def test_window_is_the_days_before_the_as_of_day_with_the_last_ones_held_out():
    w = window_for(dt.date(2013, 2, 1), SPLIT, dt.date(2013, 1, 1))
    assert w.train_days[0] == dt.date(2013, 1, 22) and w.train_days[-1] == dt.date(2013, 1, 28)
    assert w.holdout_days == (dt.date(2013, 1, 29), dt.date(2013, 1, 30), dt.date(2013, 1, 31))
    assert dt.date(2013, 2, 1) not in w.days and len(w.days) == 10


def test_window_is_clipped_at_the_first_day_and_refused_when_too_short():
    first = dt.date(2013, 1, 1)
    assert first_as_of_day(first, SPLIT) == dt.date(2013, 1, 8)
    w = window_for(dt.date(2013, 1, 8), SPLIT, first)
    assert w.train_days == tuple(dt.date(2013, 1, d) for d in range(1, 5)) and len(w.holdout_days) == 3
    with pytest.raises(NotEnoughDays, match="need 4 and 3"):
        window_for(dt.date(2013, 1, 7), SPLIT, first)


def test_features_that_tell_the_model_nothing_are_warned_about():
    from batch_training.features.dataset import uninformative_features

    flat = pa.table({"x": [3.0, 3.0, None], "z": [1.0, 2.0, 3.0], "c": ["EWR", "EWR", None], "d": ["a", "b", "a"],
                     "e": pa.nulls(3, pa.string()), "y": [1.0, 2.0, 3.0]})
    pre = fit_preprocessor(flat, ["x", "z"], ["c", "d", "e"], "y", "regression")
    assert uninformative_features(pre) == [
        "categorical feature 'c' has a single value 'EWR' in the training days: it tells the model nothing",
        "categorical feature 'e' has no value in the training days: it tells the model nothing",
        "numeric feature 'x' is constant (3) in the training days: it tells the model nothing",
    ]
    assert uninformative_features(fit_preprocessor(TRAIN, ["x"], ["c"], "y", "regression")) == []
