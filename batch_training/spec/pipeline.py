"""The training spec: one YAML file declares one pipeline, from its DWH tables to its gate."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from batch_training.spec.derived import ACCEPTS, Derived
from batch_training.spec.identifiers import check_identifier
from batch_training.spec.joins import JoinSpec
from batch_training.spec.tables import (
    NUMERIC_TYPES,
    ColumnContract,
    FeaturesSpec,
    FieldError,
    MonitoringSpec,
    ScheduleSpec,
    TableSpec,
)
from batch_training.spec.training import EvaluationSpec, GateSpec, ModelSpec, SplitSpec, Task
from batch_training.spec.training_checks import check_training


def contract_kind(contract: ColumnContract) -> str:
    """``number``, ``clock`` (an HHMM integer), ``string``, ``date`` or ``timestamp``."""
    if contract.type in NUMERIC_TYPES:
        return "clock" if contract.clock else "number"
    return contract.type


class TrainingSpec(TableSpec):
    """One pipeline: its main table and the tables it joins, derived features, what it learns, the gate."""

    name: str
    description: str = ""
    schedule: ScheduleSpec = ScheduleSpec()
    joins: dict[str, JoinSpec] = Field(default_factory=dict, description="tables joined point-in-time, by name")
    derived: dict[str, Derived] = Field(default_factory=dict, description="features computed from columns")
    features: FeaturesSpec | None = None
    target: str | None = None
    task: Task | None = Field(default=None, description="regression, binary or multiclass; needs features, target, split")
    positive_class: str | None = Field(
        default=None, description="binary: the class whose probability the model predicts (required for binary)")
    split: SplitSpec | None = None
    model: ModelSpec = ModelSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    gate: GateSpec = GateSpec()
    monitoring: MonitoringSpec = MonitoringSpec()

    @property
    def trainable(self) -> bool:
        """Whether this spec declares a model (else it stops at cleansed data)."""
        return self.task is not None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_identifier(v, "spec name")

    # -- what a name means -------------------------------------------------------------------
    def contract_of(self, name: str) -> ColumnContract | None:
        """The contract of a main column or of a joined one (``<join>.<column>``)."""
        join, dot, column = name.partition(".")
        if dot:
            table = self.joins.get(join)
            return table.columns.get(column) if table is not None else None
        return self.columns.get(name)

    def kind_of(self, name: str) -> str | None:
        """What a column, joined column or derived feature holds (see ``contract_kind``); None: unknown."""
        if name in self.derived:
            kind = self.derived[name].kind
            return "timestamp" if kind == "timestamp" else "number"
        contract = self.contract_of(name)
        return contract_kind(contract) if contract is not None else None

    @property
    def feature_names(self) -> list[str]:
        return (self.features.numeric + self.features.categorical) if self.features else []

    @staticmethod
    def derived_inputs(recipe: dict) -> tuple[str, ...]:
        """The names a derived recipe (as a dict) reads."""
        if recipe["op"] == "timestamp_of":
            return (recipe["date"], recipe["clock"])
        of = recipe["of"]
        return tuple(of) if isinstance(of, (list, tuple)) else (of,)

    def needs_join(self, name: str) -> bool:
        """Whether a name (or the derived feature's inputs) comes from a joined table."""
        if "." in name:
            return True
        return name in self.derived and any(self.needs_join(i) for i in self.derived[name].inputs())

    # -- checks ------------------------------------------------------------------------------
    @model_validator(mode="after")
    def _references(self) -> "TrainingSpec":
        for name in self.joins:
            check_identifier(name, "join name")
            if name in self.columns:
                raise FieldError(("joins", name), f"join {name!r} has the name of a column")
        self._check_derived()
        for name, join in self.joins.items():
            self._check_join(name, join)
        used = [(("features", kind, i), col) for kind in ("numeric", "categorical")
                for i, col in enumerate(getattr(self.features, kind))] if self.features else []
        for loc, col in used:
            if self.kind_of(col) is None:
                raise FieldError(loc, f"feature or target {col!r} is not declared under columns (nor derived, "
                                      "nor a joined <join>.<column>)")
        if self.target and self.target not in self.columns:
            raise FieldError(("target",), f"feature or target {self.target!r} is not declared under columns")
        features = {col for _, col in used}
        for i, name in enumerate(self.monitoring.not_judged):
            if name not in features:
                raise FieldError(("monitoring", "not_judged", i), f"{name!r} is not one of the features")
        if self.task is not None:
            check_training(self)
        return self

    def _check_derived(self) -> None:
        seen: set[str] = set()
        for name, op in self.derived.items():
            check_identifier(name, "derived feature name")
            if name in self.columns or name in self.joins:
                raise FieldError(("derived", name), f"derived feature {name!r} has the name of a column or join")
            for given, accepted in zip(op.inputs(), ACCEPTS[op.op]):
                if given in self.derived and given not in seen:
                    raise FieldError(("derived", name), f"{given!r} is derived after {name!r}: declare it first")
                kind = self.kind_of(given)
                if kind is None:
                    raise FieldError(("derived", name), f"{op.op} of {given!r}: no such column or derived feature")
                if kind not in accepted:
                    raise FieldError(("derived", name),
                                     f"{op.op} needs {' or '.join(accepted)} input(s); {given!r} is {kind}")
            seen.add(name)

    def _check_join(self, name: str, join: JoinSpec) -> None:
        for main, joined in join.keys.items():
            if main not in self.columns:
                raise FieldError(("joins", name, "keys", main), f"key {main!r} is not declared under the main columns")
            if self.columns[main].type != join.columns[joined].type:
                raise FieldError(("joins", name, "keys", main), f"key types differ: {main!r} is "
                                 f"{self.columns[main].type}, {name}.{joined} is {join.columns[joined].type}")
        if self.kind_of(join.event_time) != "timestamp" or self.needs_join(join.event_time):
            raise FieldError(("joins", name, "event_time"), f"event_time {join.event_time!r} must be a main "
                             "timestamp column or a derived timestamp of main columns (timestamp_of)")
