"""The training core: model shapes, the loop (overfit, determinism, early stopping, callbacks) and
checkpoints (round trip, weights-only content, format check, atomic save)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickletools
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from batch_training.training import (
    FORMAT,
    Batch,
    Checkpoint,
    CheckpointError,
    EpochStats,
    ModelConfig,
    TabularNet,
    TrainConfig,
    TrainingDiverged,
    build_model,
    embedding_size,
    evaluate_loss,
    load_checkpoint,
    predict,
    save_checkpoint,
    seed_everything,
    train,
)

CARDS = (16, 3, 105)


@pytest.fixture(autouse=True)
def _one_thread():
    # Bit-identical CPU results need a fixed thread count; one thread is also fastest for these sizes.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_batch(n: int, n_numeric: int = 4, cards: tuple[int, ...] = CARDS, *, seed: int = 0,
               task: str = "regression", classes: int = 3) -> Batch:
    g = torch.Generator().manual_seed(seed)
    numeric = torch.randn(n, n_numeric, generator=g)
    categorical = torch.stack([torch.randint(0, c, (n,), generator=g) for c in cards], dim=1) if cards \
        else torch.zeros(n, 0, dtype=torch.int64)
    signal = numeric.sum(dim=1) if n_numeric else torch.zeros(n)
    if cards:
        signal = signal + (categorical[:, 0] % 4).float()
    if task == "binary":
        target = (signal > signal.median()).float()
    elif task == "multiclass":
        target = torch.bucketize(signal, signal.quantile(torch.tensor([1 / 3, 2 / 3])))
    else:
        target = 3 * signal + 0.1 * torch.randn(n, generator=g)
    return Batch(numeric, categorical, target)


def make_model(seed: int = 0, *, n_numeric: int = 4, cards: tuple[int, ...] = CARDS, hidden=(32, 16),
               dropout: float = 0.0, n_outputs: int = 1) -> TabularNet:
    seed_everything(seed)
    return TabularNet(ModelConfig(n_numeric=n_numeric, cardinalities=cards, hidden=hidden, embedding_dim=8,
                                  dropout=dropout, n_outputs=n_outputs))


def config(**overrides) -> TrainConfig:
    base = dict(epochs=5, batch_size=64, learning_rate=1e-2, weight_decay=0.0, patience=100, seed=0, loss="l2",
                device="cpu")
    return TrainConfig(**{**base, **overrides})


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- model -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cardinality", "max_dim", "expected"),
                         [(1, 8, 2), (2, 8, 2), (3, 8, 3), (16, 8, 8), (16, 50, 8), (105, 8, 8), (105, 50, 22)])
def test_embedding_size(cardinality, max_dim, expected):
    assert embedding_size(cardinality, max_dim) == expected


@pytest.mark.parametrize(("n_numeric", "cards", "n_outputs"), [
    (4, CARDS, 1),  # regression or binary (one logit)
    (4, CARDS, 5),  # multiclass logits
    (0, CARDS, 1),  # categorical only
    (3, (), 3),  # numeric only
    (0, (7,), 2),  # a single embedding and nothing else
])
def test_forward_shapes_and_layer_sizes(n_numeric, cards, n_outputs):
    model = make_model(n_numeric=n_numeric, cards=cards, n_outputs=n_outputs)
    data = make_batch(10, n_numeric, cards)
    out = model(data.numeric, data.categorical)
    assert out.shape == (10, n_outputs) and out.dtype == torch.float32
    assert [e.embedding_dim for e in model.embeddings] == [embedding_size(c, 8) for c in cards]
    assert [e.num_embeddings for e in model.embeddings] == list(cards)
    assert model.mlp[0].in_features == n_numeric + sum(embedding_size(c, 8) for c in cards)
    assert predict(model, data.numeric, data.categorical, batch_size=3).shape == (10, n_outputs)
    assert predict(model, data.numeric[:0], data.categorical[:0]).shape == (0, n_outputs)


def test_model_config_round_trip_and_validation():
    cfg = ModelConfig(n_numeric=2, cardinalities=[4, 5], hidden=[8], embedding_dim=4, dropout=0.1, n_outputs=1)
    assert cfg.cardinalities == (4, 5) and cfg.hidden == (8,)
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        ModelConfig.from_dict({**cfg.to_dict(), "extra": 1})
    with pytest.raises(ValueError, match="at least one numeric or categorical"):
        ModelConfig(n_numeric=0, cardinalities=(), hidden=(8,), embedding_dim=4, dropout=0.0, n_outputs=1)
    with pytest.raises(ValueError, match="cardinalities"):
        ModelConfig(n_numeric=1, cardinalities=(0,), hidden=(8,), embedding_dim=4, dropout=0.0, n_outputs=1)
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(n_numeric=1, cardinalities=(), hidden=(8,), embedding_dim=4, dropout=1.0, n_outputs=1)


def test_predict_restores_training_mode():
    model = make_model(dropout=0.5).train()
    data = make_batch(20)
    first = predict(model, data.numeric, data.categorical)
    assert model.training  # restored
    np.testing.assert_array_equal(first, predict(model, data.numeric, data.categorical))  # eval: no dropout


# --- training loop -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("task", "loss", "n_outputs"), [
    ("regression", "l2", 1), ("regression", "l1", 1), ("binary", "bce", 1), ("multiclass", "cross_entropy", 3),
])
def test_tiny_batch_is_overfit(task, loss, n_outputs):
    data = make_batch(32, task=task)
    model = make_model(hidden=(64, 64), n_outputs=n_outputs)
    initial = evaluate_loss(model, data, loss)
    result = train(model, data, data, config(epochs=300, batch_size=32, learning_rate=1e-2, loss=loss))
    assert result.history[-1].train_loss < 0.05 * initial
    assert result.best_valid_loss < 0.05 * initial
    assert result.initial_valid_loss == pytest.approx(initial, rel=1e-6)


def _run(seed: int, *, disturb_global_rng: bool = False):
    model = make_model(seed, dropout=0.2)
    if disturb_global_rng:
        torch.rand(100)  # the loop reseeds dropout from config.seed, so this must not matter
    return train(model, make_batch(300, seed=1), make_batch(100, seed=2), config(epochs=4, seed=seed))


def test_same_seed_is_bit_identical_and_other_seed_differs():
    a, b, c = _run(3), _run(3, disturb_global_rng=True), _run(4)
    assert states_equal(a.state_dict, b.state_dict)
    assert [(s.train_loss, s.valid_loss) for s in a.history] == [(s.train_loss, s.valid_loss) for s in b.history]
    assert not states_equal(a.state_dict, c.state_dict)
    assert [s.train_loss for s in a.history] != [s.train_loss for s in c.history]


def test_train_leaves_the_global_rng_alone():
    model, data = make_model(dropout=0.2), make_batch(100)
    before = torch.get_rng_state()
    train(model, data, data, config(epochs=2))
    assert torch.equal(torch.get_rng_state(), before)


def test_early_stopping_returns_the_best_epoch():
    train_data, valid = make_batch(256, seed=1), make_batch(256, seed=2)
    valid.target = torch.randn(256, generator=torch.Generator().manual_seed(9)) * 10  # unrelated to the inputs
    model = make_model(hidden=(64, 64))
    result = train(model, train_data, valid, config(epochs=60, patience=2, learning_rate=3e-2, batch_size=32))
    losses = [s.valid_loss for s in result.history]
    assert result.stopped_early and len(result.history) < 60
    assert result.best_epoch == 1 + int(np.argmin(losses))
    assert len(result.history) == result.best_epoch + 2  # exactly `patience` epochs without improvement
    assert [s.improved for s in result.history[result.best_epoch:]] == [False, False]
    assert result.best_valid_loss == min(losses)
    fresh = make_model(hidden=(64, 64))
    fresh.load_state_dict(result.state_dict)
    assert abs(evaluate_loss(fresh, valid, "l2") - result.best_valid_loss) < 1e-6
    assert states_equal({k: v for k, v in model.state_dict().items()}, result.state_dict)  # model holds the best
    assert all(v.device.type == "cpu" for v in result.state_dict.values())


def test_zero_epochs_returns_the_initial_weights():
    model, data = make_model(), make_batch(50)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(model, data, data, config(epochs=0))
    assert result.history == [] and result.best_epoch is None and not result.stopped_early
    assert states_equal(result.state_dict, initial)
    assert math.isfinite(result.best_valid_loss)
    assert result.best_valid_loss == pytest.approx(evaluate_loss(make_model(), data, "l2"), abs=1e-9)


def test_callbacks_get_every_epoch_and_their_errors_propagate():
    seen: list[EpochStats] = []

    class Recorder:
        def on_epoch_end(self, stats: EpochStats) -> None:
            seen.append(stats)

    data = make_batch(200)
    result = train(make_model(), data, data, config(epochs=4), callbacks=[Recorder()])
    assert [s.epoch for s in seen] == [1, 2, 3, 4]
    assert seen == result.history
    assert all(s.samples_per_s > 0 and s.seconds > 0 and math.isfinite(s.train_loss) for s in seen)

    class Boom:
        calls = 0

        def on_epoch_end(self, stats: EpochStats) -> None:
            Boom.calls += 1
            if stats.epoch == 2:
                raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        train(make_model(), data, data, config(epochs=4), callbacks=[Boom()])
    assert Boom.calls == 2


def test_bad_inputs_are_rejected_and_divergence_raises():
    data = make_batch(40)
    with pytest.raises(ValueError, match="validation split is empty"):
        train(make_model(), data, make_batch(0), config())
    with pytest.raises(ValueError, match="int64"):
        train(make_model(n_outputs=3), data, data, config(loss="cross_entropy"))
    with pytest.raises(ValueError, match=r"needs model outputs \[n, 1\]"):
        train(make_model(n_outputs=3), data, data, config(loss="l1"))
    poisoned = make_batch(40)
    poisoned.numeric[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        train(make_model(), poisoned, data, config(epochs=2))
    with pytest.raises(ValueError, match="initial validation loss is nan"):
        train(make_model(), data, poisoned, config(epochs=0))


def test_training_core_never_imports_dagster():
    code = "import sys, batch_training.training; assert not [m for m in sys.modules if 'dagster' in m]"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- checkpoints -------------------------------------------------------------------------------------

def _checkpoint() -> Checkpoint:
    model, data = make_model(dropout=0.1), make_batch(200)
    result = train(model, data, data, config(epochs=2))
    return Checkpoint(model_config=model.config, state_dict=result.state_dict,
                      preprocessing={"numeric": {"b": {"mean": np.float64(1.5)}, "a": {"mean": 2.0}}},
                      history=[s.to_dict() for s in result.history],
                      lineage={"spec": "tiny", "days": ["2013-01-01", "2013-01-02"]},
                      metadata={"best_epoch": result.best_epoch})


def test_checkpoint_round_trip(tmp_path: Path):
    ckpt, path = _checkpoint(), tmp_path / "models" / "model.pt"
    sha = save_checkpoint(path, ckpt)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = load_checkpoint(path, sha256=sha)
    assert loaded.model_config == ckpt.model_config
    assert list(loaded.preprocessing["numeric"]) == ["b", "a"]  # key order kept
    assert loaded.preprocessing == {"numeric": {"b": {"mean": 1.5}, "a": {"mean": 2.0}}}
    assert (loaded.history, loaded.lineage, loaded.metadata) == (ckpt.history, ckpt.lineage, ckpt.metadata)
    assert states_equal(loaded.state_dict, ckpt.state_dict)
    original, rebuilt = make_model(dropout=0.1), build_model(loaded)
    original.load_state_dict(ckpt.state_dict)
    assert not rebuilt.training
    data = make_batch(64, seed=5)
    np.testing.assert_array_equal(predict(original, data.numeric, data.categorical),
                                  predict(rebuilt, data.numeric, data.categorical))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(path, sha256="0" * 64)


def test_checkpoint_holds_only_tensors_and_primitives(tmp_path: Path):
    path = tmp_path / "model.pt"
    save_checkpoint(path, _checkpoint())
    raw = torch.load(path, weights_only=True, map_location="cpu")

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        else:
            yield value

    assert raw["format"] == FORMAT
    assert {type(v).__name__ for v in leaves(raw)} <= {"Tensor", "Parameter", "str", "int"}
    assert all(isinstance(v, torch.Tensor) for v in raw["state_dict"].values())
    assert json.loads(raw["model_config"])["cardinalities"] == list(CARDS)
    with zipfile.ZipFile(path) as zf:
        pickled = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
    globals_ = {arg for op, arg, _ in pickletools.genops(io.BytesIO(pickled)) if op.name == "GLOBAL"}
    assert globals_ and all(g.split()[0] in {"torch", "torch._utils", "collections"} for g in globals_), globals_


def test_tampered_format_is_rejected(tmp_path: Path):
    path = tmp_path / "model.pt"
    save_checkpoint(path, _checkpoint())
    raw = torch.load(path, weights_only=True)
    torch.save({**raw, "format": "someone.else/9"}, path)
    with pytest.raises(CheckpointError, match=r"format is 'someone.else/9', expected 'batch_training.checkpoint/1'"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a weights-only torch file"):
        load_checkpoint(path)


def test_crash_during_save_leaves_no_file(tmp_path: Path, monkeypatch):
    ckpt = _checkpoint()

    def crash(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "model.pt", ckpt)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    # Overwriting: a failed save keeps the previous checkpoint whole.
    path = tmp_path / "model.pt"
    sha = save_checkpoint(path, ckpt)
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, ckpt)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert load_checkpoint(path, sha256=sha).model_config == ckpt.model_config


def test_non_json_metadata_is_rejected_before_writing(tmp_path: Path):
    ckpt = _checkpoint()
    ckpt.metadata = {"mae": float("nan")}
    with pytest.raises(CheckpointError, match="'metadata' is not strict JSON"):
        save_checkpoint(tmp_path / "model.pt", ckpt)
    assert list(tmp_path.iterdir()) == []
