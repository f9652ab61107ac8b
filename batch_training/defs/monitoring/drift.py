"""``<spec>/data_drift``: each cleansed day's features against the production model's reference
profile (PSI per feature, unseen categories, missing values); a non-blocking check per day."""


import dagster as dg

from batch_training.cleansing.checks import Verdict
from batch_training.defs.boundary import failure_boundary
from batch_training.defs.checks import check_result
from batch_training.defs.monitoring.notify import alert_days
from batch_training.defs.monitoring.production import production_of
from batch_training.defs.partitions import daily_partitions, day_of
from batch_training.defs.resources import AlertsResource, ArtifactStoreResource, RegistryResource
from batch_training.defs.tables import tables
from batch_training.defs.training.dataset import cleansed_days
from batch_training.features.dataset import day_rows
from batch_training.monitoring import DriftReport, drift
from batch_training.monitoring.drift import day_level_features
from batch_training.settings import Settings
from batch_training.spec import TrainingSpec

TOP = 5


def _cell(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def _table(report: DriftReport) -> str:
    lines = ["| feature | kind | PSI | unseen | missing | level |", "|---|---|---|---|---|---|"]
    for f in report.top(TOP):
        lines.append(f"| {f.name} | {f.kind} | {_cell(f.psi, '.3f')} | {_cell(f.unseen_share, '.1%')} | "
                     f"{_cell(f.missing_rate, '.1%')} | {f.level if f.judged else 'not judged'} |")
    return "\n".join(lines)


def _metadata(report: DriftReport, version: str, source: str) -> dict:
    # every feature's PSI under a stable key, so the UI plots each over the partitions
    numbers = {f"psi/{f.name}": f.psi for f in report.features if f.psi is not None}
    top = [f for f in report.top(len(report.features)) if f.judged][:TOP]
    return {"level": report.level, "rows": report.rows, "production_version": version, "reference": source,
            "max_psi": max((f.psi for f in report.features if f.judged and f.psi is not None), default=0.0), **numbers,
            "unseen_share_max": max((f.unseen_share or 0.0 for f in report.features), default=0.0),
            "top_features": dg.MetadataValue.json([f.name for f in top]),
            "drift": dg.MetadataValue.md(_table(report)), "reasons": dg.MetadataValue.json(report.reasons)}


def build_drift_asset(spec: TrainingSpec, settings: Settings) -> dg.AssetsDefinition:
    key = dg.AssetKey([spec.name, "data_drift"])
    partitions = daily_partitions(spec)
    m = spec.monitoring

    @dg.asset(
        key=key, partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run(), group_name=spec.name,
        deps=[table.key("cleansed") for table in tables(spec)], kinds={"python"},
        check_specs=[dg.AssetCheckSpec(
            "data_drift", asset=key, partitions_def=partitions, blocking=False,
            description=f"WARN when a feature's PSI is above {m.psi_warn}, unseen categories above {m.unseen_warn:.0%} "
                        f"or missing values up by {m.missing_warn:.0%}; ERROR above {m.psi_error} / "
                        f"{m.unseen_error:.0%} / {m.missing_error:.0%}. Never blocks.")],
        description="Each day's features (as training sees them: joins and derived features) against the "
                    "production model's training window: PSI per feature, unseen categories, missing values.",
    )
    def data_drift(context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource, registry: RegistryResource,
                   alerts: AlertsResource):
        store = artifacts.partitions()
        verdicts: dict[str, Verdict] = {}
        with failure_boundary(context, f"measuring data drift of {spec.name}"):
            production = production_of(registry, spec, store)
            if production is None:
                for pk in context.partition_keys:
                    verdicts[pk] = Verdict(True, "WARN", "no production model to compare with")
                    context.add_asset_metadata({"level": "NONE", "reasons": "no production model"}, partition_key=pk)
            else:
                profile, source = production.profile()
                days = cleansed_days(store, spec)
                for pk in context.partition_keys:
                    report = drift(profile, day_rows(spec, day_of(pk), days.read_day, days.joined), m,
                                   day_level_features(spec))
                    context.add_asset_metadata(_metadata(report, production.version, source), partition_key=pk)
                    summary = "; ".join(report.reasons) or f"no drift (max PSI {max((f.psi or 0 for f in report.features), default=0):.3f})"
                    verdicts[pk] = Verdict(report.level == "OK", "ERROR" if report.level == "ERROR" else "WARN", summary)
        errors = sorted(pk for pk, v in verdicts.items() if not v.passed and v.severity == "ERROR")
        if errors:
            alert_days(alerts, settings, context, spec, "data_drift", errors,
                       f"data drift above the ERROR threshold against {production.version}",
                       {pk: verdicts[pk].summary for pk in errors},
                       "look at the drifting features; retrain early if the change is real, fix the source if not")
        yield dg.MaterializeResult(asset_key=key)
        yield check_result("data_drift", key, verdicts)

    return data_drift
