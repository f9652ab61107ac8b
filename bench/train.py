"""Flights, trained on Jan-Nov 2013, evaluated on Dec 2013 (as of 2014-01-01), same run, same split:
our model's MAE beside LightGBM's (L1 objective, same features) and the naive baseline's; training
wall time; and the training loop's samples/s beside a naive DataLoader loop (bench.training_loop).

    python -m bench.train
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pyarrow as pa

from batch_training.cleansing import cleanse
from batch_training.features import window_for
from batch_training.features.dataset import LoadedDataset, build_training_data, describe
from batch_training.modeling import Predictor, fit_candidate
from batch_training.modeling.evaluate import evaluate
from batch_training.sample.anomalies import inject
from batch_training.sample.flights import load_flights
from batch_training.spec import load_specs
from batch_training.warehouse.extract import split_by_day

AS_OF = dt.date(2014, 1, 1)


def cleansed_days(spec) -> dict[dt.date, pa.Table]:
    """The sample DWH's year (default anomaly rate and seed), cleansed day by day as the pipeline does."""
    flights, _ = inject(load_flights(), rate=0.01, seed=13)
    by_day = split_by_day(flights, spec.source.partition_column, spec.source.timezone)
    return {dt.date.fromisoformat(day): cleanse(table, spec).clean for day, table in by_day.items()}


def lightgbm_mae(spec, data: LoadedDataset) -> tuple[float, float]:
    import lightgbm as lgb

    pre = data.preprocessor

    def matrix(table: pa.Table) -> np.ndarray:
        numeric = [table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in spec.features.numeric]
        _, cats = pre.encode_features(table)
        return np.column_stack(numeric + [cats[:, i].astype(np.float64) for i in range(cats.shape[1])])

    n_num = len(spec.features.numeric)
    cat_idx = list(range(n_num, n_num + len(spec.features.categorical)))
    y = data.train.column(spec.target).cast(pa.float64()).to_numpy(zero_copy_only=False)
    start = time.perf_counter()
    model = lgb.train({"objective": "l1", "learning_rate": 0.1, "num_leaves": 63, "min_data_in_leaf": 50,
                       "verbose": -1, "num_threads": 2, "seed": 13},
                      lgb.Dataset(matrix(data.train), y, categorical_feature=cat_idx), num_boost_round=300)
    seconds = time.perf_counter() - start
    pred = model.predict(matrix(data.holdout))
    truth = data.holdout.column(spec.target).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return float(np.mean(np.abs(pred - truth))), seconds


def measure() -> dict:
    spec = load_specs()[0]
    days = cleansed_days(spec)
    window = window_for(AS_OF, spec.split, spec.source.first_day)
    built = build_training_data(spec, window, read_day=days.__getitem__, day_fingerprint=lambda d: d.isoformat())
    data = LoadedDataset(built.train, built.holdout, built.preprocessor, describe(built))
    start = time.perf_counter()
    outcome = fit_candidate(data, spec.model, lineage={"bench": True}, device="cpu")
    train_seconds = time.perf_counter() - start
    report, _, decision = evaluate(spec, data, Predictor(outcome.checkpoint))
    lgb_mae, lgb_seconds = lightgbm_mae(spec, data)
    epochs = len(outcome.result.history)
    return {
        "rows_train": data.train.num_rows, "rows_holdout": data.holdout.num_rows, "epochs": epochs,
        "ours_mae": report["candidate"]["mae"], "lightgbm_mae": lgb_mae, "naive_mae": report["baselines"]["naive"]["mae"],
        "ours_vs_lightgbm": report["candidate"]["mae"] / lgb_mae,
        "train_seconds": train_seconds, "train_samples_per_s": data.train.num_rows * epochs / train_seconds,
        "lightgbm_seconds": lgb_seconds, "gate_passed": decision.passed,
    }


def main() -> dict:
    from bench import training_loop

    result = measure()
    print(f"flights as of {AS_OF}: {result['rows_train']} training rows, {result['rows_holdout']} holdout rows")
    print(f"  MAE ours {result['ours_mae']:.3f}  LightGBM (L1, same features) {result['lightgbm_mae']:.3f}  "
          f"naive {result['naive_mae']:.3f}  -> ours/LightGBM {result['ours_vs_lightgbm']:.3f} (target <= 1.000)")
    print(f"  training wall time {result['train_seconds']:.1f} s for {result['epochs']} epochs "
          f"({result['train_samples_per_s']:,.0f} samples/s; target <= 60 s); LightGBM {result['lightgbm_seconds']:.1f} s")
    loop = training_loop.measure()
    result["loop"] = loop
    print(f"  training loop vs DataLoader(TensorDataset): {loop}")
    return result


if __name__ == "__main__":
    main()
