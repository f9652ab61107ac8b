"""The tabular model: numeric inputs plus one learned embedding per categorical feature, then an MLP.

Categorical codes are integers in ``[0, cardinality)``; code 0 is reserved for out-of-vocabulary or
missing values, so it gets a learned embedding like any other category.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor, nn


def embedding_size(cardinality: int, max_dim: int) -> int:
    """Embedding width for a feature with ``cardinality`` codes (fast.ai's rule of thumb, capped)."""
    if cardinality < 1 or max_dim < 1:
        raise ValueError(f"cardinality ({cardinality}) and max_dim ({max_dim}) must be positive")
    return min(max_dim, max(2, round(1.6 * cardinality**0.56)))


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`TabularNet` (stored as JSON in checkpoints)."""

    n_numeric: int
    cardinalities: tuple[int, ...]  # per categorical feature, including code 0 = out-of-vocabulary/missing
    hidden: tuple[int, ...]
    embedding_dim: int  # the largest embedding size; see embedding_size()
    dropout: float
    n_outputs: int  # 1 for regression, 1 for binary (a logit), k for multiclass (k logits)
    members: int = 1  # an ensemble of this many networks of this shape, their outputs averaged

    def __post_init__(self) -> None:
        # Lists arrive from JSON and pydantic specs; keep the frozen dataclass hashable and comparable.
        object.__setattr__(self, "cardinalities", tuple(int(c) for c in self.cardinalities))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.n_numeric < 0:
            raise ValueError(f"n_numeric must be >= 0, got {self.n_numeric}")
        if any(c < 1 for c in self.cardinalities):
            raise ValueError(f"cardinalities must be >= 1 (code 0 is out-of-vocabulary), got {self.cardinalities}")
        if self.n_numeric == 0 and not self.cardinalities:
            raise ValueError("a model needs at least one numeric or categorical input")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be positive and at least one, got {self.hidden}")
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.n_outputs < 1:
            raise ValueError(f"n_outputs must be >= 1, got {self.n_outputs}")
        if self.members < 1:
            raise ValueError(f"members must be >= 1, got {self.members}")

    @property
    def embedding_sizes(self) -> tuple[int, ...]:
        return tuple(embedding_size(c, self.embedding_dim) for c in self.cardinalities)

    @property
    def input_size(self) -> int:
        """Width of the MLP's input: numeric features plus all embeddings."""
        return self.n_numeric + sum(self.embedding_sizes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {**d, "cardinalities": list(self.cardinalities), "hidden": list(self.hidden)}

    def member(self) -> "ModelConfig":
        """The configuration of one network of the ensemble."""
        return replace(self, members=1)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        unknown, missing = set(d) - names, names - set(d) - {"members"}  # checkpoints before ensembles
        if unknown or missing:
            raise ValueError(f"bad model config: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        return cls(**d)

    @classmethod
    def from_spec(cls, model_spec: Any, *, n_numeric: int, cardinalities: tuple[int, ...] | list[int],
                  n_outputs: int) -> "ModelConfig":
        """Build from a spec's model section (anything with ``hidden``, ``embedding_dim``, ``dropout``)."""
        return cls(n_numeric=n_numeric, cardinalities=tuple(cardinalities), hidden=tuple(model_spec.hidden),
                   embedding_dim=model_spec.embedding_dim, dropout=model_spec.dropout, n_outputs=n_outputs)


class TabularNet(nn.Module):
    """Embeddings concatenated with the numeric inputs, then Linear/ReLU/Dropout blocks, then a Linear head.

    The layer layout (and so the state_dict keys) depends only on the config, never on the data.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embeddings = nn.ModuleList(
            nn.Embedding(card, size) for card, size in zip(config.cardinalities, config.embedding_sizes)
        )
        layers: list[nn.Module] = []
        width = config.input_size
        for h in config.hidden:
            # Dropout is always present (a no-op at 0) so the state_dict keys do not depend on it.
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(config.dropout)]
            width = h
        layers.append(nn.Linear(width, config.n_outputs))
        self.mlp = nn.Sequential(*layers)

    def forward(self, numeric: Tensor, categorical: Tensor) -> Tensor:
        """``numeric`` float32 [n, n_numeric], ``categorical`` int64 [n, n_cat] -> [n, n_outputs]."""
        parts = [numeric] if self.config.n_numeric else []
        parts += [emb(categorical[:, i]) for i, emb in enumerate(self.embeddings)]
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return self.mlp(x)


class EnsembleNet(nn.Module):
    """``members`` networks of one shape; the output is the mean of theirs. State-dict keys are
    ``members.<i>.<key of a TabularNet>``, so each member keeps its own layout."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.members = nn.ModuleList(TabularNet(config.member()) for _ in range(config.members))

    def forward(self, numeric: Tensor, categorical: Tensor) -> Tensor:
        return torch.stack([member(numeric, categorical) for member in self.members]).mean(dim=0)


def model_for(config: ModelConfig) -> nn.Module:
    """The network of a configuration: one TabularNet, or an ensemble of them."""
    return EnsembleNet(config) if config.members > 1 else TabularNet(config)
