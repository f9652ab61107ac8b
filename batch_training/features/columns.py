"""Which columns a spec's training rows need, from which table, and which of them a prediction
request must carry (the raw inputs: what the derived features are computed from, and the joined
columns the caller supplies, e.g. today's weather)."""

from __future__ import annotations

from batch_training.spec import TrainingSpec


def _sources(spec: TrainingSpec, name: str) -> list[str]:
    """The columns (main or ``<join>.<column>``) a feature or derived name comes from."""
    if name in spec.derived:
        recipe = spec.derived[name].model_dump()
        return [c for i in spec.derived_inputs(recipe) for c in _sources(spec, i)]
    return [name]


def request_inputs(spec: TrainingSpec) -> list[str]:
    """The fields a prediction request carries: every column the features come from, in order."""
    return list(dict.fromkeys(c for f in spec.feature_names for c in _sources(spec, f)))


def main_columns(spec: TrainingSpec) -> list[str]:
    """The main table's columns the training rows need."""
    wanted = [spec.source.partition_column, spec.target, *spec.evaluation.slices,
              *([spec.evaluation.naive.feature] if spec.evaluation.naive else [])]
    wanted += [c for c in request_inputs(spec) if "." not in c]
    wanted += [c for s in spec.evaluation.slices for c in _sources(spec, s)]
    for join in spec.joins.values():
        wanted += list(join.keys) + _sources(spec, join.event_time)
    return [c for c in dict.fromkeys(wanted) if c in spec.columns]


def joined_columns(spec: TrainingSpec, join: str) -> list[str]:
    """The columns of one joined table the features use (without the ``<join>.`` prefix)."""
    prefix = f"{join}."
    used = [c for f in spec.feature_names for c in _sources(spec, f)]
    return list(dict.fromkeys(c.removeprefix(prefix) for c in used if c.startswith(prefix)))


def needed_derived(spec: TrainingSpec, training: bool = False) -> list[str]:
    """The derived features the model's features need (themselves or as inputs), in spec order; for
    ``training`` also those the joins' event times and the evaluation's slices need."""
    wanted: set[str] = set()

    def visit(name: str) -> None:
        if name in spec.derived and name not in wanted:
            wanted.add(name)
            for i in spec.derived_inputs(spec.derived[name].model_dump()):
                visit(i)

    roots = list(spec.feature_names)
    if training:
        roots += [join.event_time for join in spec.joins.values()] + list(spec.evaluation.slices)
    for name in roots:
        visit(name)
    return [name for name in spec.derived if name in wanted]


def request_schema(spec: TrainingSpec) -> dict:
    """What a bundle's ``metadata.json`` says of its requests: the raw inputs by kind, each input's
    contract, the derived features' recipes and the time rule they are computed by."""
    kinds = {"numeric": [], "categorical": [], "dates": [], "timestamps": []}
    categorical = set(spec.features.categorical) if spec.features else set()
    for name in request_inputs(spec):
        kind = spec.kind_of(name)
        group = {"date": "dates", "timestamp": "timestamps", "string": "categorical"}.get(kind or "", "numeric")
        kinds["categorical" if name in categorical else group].append(name)
    contract = {}
    for name in request_inputs(spec):
        c = spec.contract_of(name)
        # A joined column may always be missing: the caller has no joined row in the tolerance, as an
        # unmatched training row had none (the model learned from those).
        contract[name] = {"type": c.type, "min": c.min, "max": c.max, "allowed": c.allowed,
                          "nullable": c.nullable or "." in name, "clock": c.clock}
    return {"inputs": kinds, "contract": contract,
            "derived": {name: spec.derived[name].model_dump() for name in needed_derived(spec)},
            "time": {"timezone": spec.source.timezone, "naive": spec.source.naive_timestamps}}


def request_rows(spec: TrainingSpec, table) -> list[dict]:
    """Rows of a table (e.g. the holdout days) as prediction requests: the raw inputs, dates and
    timestamps as ISO text (timestamps as UTC instants)."""
    import datetime as dt

    import pyarrow as pa

    names = request_inputs(spec)
    columns = {}
    for name in names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            values = column.cast(pa.timestamp("us", tz="UTC")).to_pylist()
            columns[name] = [None if v is None else v.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                             for v in values]
        elif pa.types.is_date(column.type):
            columns[name] = [None if v is None else v.isoformat() for v in column.to_pylist()]
        else:
            columns[name] = column.to_pylist()
    return [dict(zip(names, values)) for values in zip(*(columns[n] for n in names))] if names else []
