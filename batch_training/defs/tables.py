"""The DWH tables of a spec, as the ingest assets see them: the main table (``<spec>/raw``, ...) and
each joined table (``<spec>/<join>/raw``, ...), each with its own source, contract and checks."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from batch_training.spec import TableSpec, TrainingSpec


@dataclass(frozen=True)
class Table:
    spec: TrainingSpec
    join: str | None = None  # None: the main table

    @property
    def contract(self) -> TableSpec:
        """What the ingest reads the table by: its source, columns and quality (the spec itself for
        the main table, the join's section for a joined one)."""
        return self.spec if self.join is None else self.spec.joins[self.join].as_table(self.spec.source)

    @property
    def prefix(self) -> list[str]:
        return [self.spec.name] if self.join is None else [self.spec.name, self.join]

    def key(self, asset: str) -> dg.AssetKey:
        return dg.AssetKey([*self.prefix, asset])

    def stored(self, asset: str) -> str:
        """The asset's folder name in the artifact store (``raw`` or ``weather/raw``)."""
        return "/".join(self.prefix[1:] + [asset])

    @property
    def op_prefix(self) -> str:
        return "__".join(self.prefix)

    @property
    def label(self) -> str:
        return self.spec.name if self.join is None else f"{self.spec.name}.{self.join}"


def tables(spec: TrainingSpec) -> list[Table]:
    return [Table(spec)] + [Table(spec, name) for name in spec.joins]
