"""``<spec>/live_performance``: the production model, as served (its bundle through ONNX Runtime),
scored on each day once the day's targets are in, beside its offline holdout figure and the naive
rule on the same rows; a check WARNs when live error stays above offline error for days on end."""


import datetime as dt

import dagster as dg
import pyarrow.compute as pc

from batch_training.cleansing.checks import Verdict
from batch_training.defs.boundary import failure_boundary
from batch_training.defs.checks import check_result
from batch_training.defs.monitoring.notify import alert_days
from batch_training.defs.monitoring.production import Production, production_of
from batch_training.defs.partitions import daily_partitions, day_of
from batch_training.defs.resources import AlertsResource, ArtifactStoreResource, RegistryResource
from batch_training.defs.tables import tables
from batch_training.defs.training.dataset import cleansed_days
from batch_training.evaluation import png_data_uri
from batch_training.evaluation.baselines import naive_rule_prediction
from batch_training.evaluation.metrics import primary_metric
from batch_training.features.columns import request_rows
from batch_training.features.dataset import day_rows
from batch_training.monitoring import LiveScore, as_scores, score_day
from batch_training.monitoring import live_performance as judge_live
from batch_training.monitoring.plot import live_vs_offline_png
from batch_training.serving.local import ServedBundle
from batch_training.settings import Settings
from batch_training.spec import TrainingSpec

PLOT_DAYS = 90  # the plot shows this many days up to the last one scored


class _Scorer:
    """The production bundle, served in this process (its server's own code: the request schema,
    derived features from the raw fields, ONNX Runtime), and the naive rule's training rows."""

    def __init__(self, spec: TrainingSpec, production: Production):
        self.spec, self.production = spec, production
        self.served = ServedBundle(production.bundle)
        self.train = production.training_data()
        self.metric = primary_metric(spec.task)

    def score(self, table) -> LiveScore:
        spec, pre = self.spec, self.train.preprocessor
        table = table.filter(pc.is_valid(table.column(spec.target)))
        if spec.task == "regression":
            y = table.column(spec.target).cast("float64").to_numpy(zero_copy_only=False)
        else:  # class indices as training encoded them; a class training never saw cannot be scored
            y = pre.encode_target(table.column(spec.target))
            table, y = table.filter(y >= 0), y[y >= 0]
        served = self.served.predict(request_rows(spec, table))
        scores = as_scores(spec.task, served, pre.target.classes or [])
        naive = None
        rule = spec.evaluation.naive
        if rule is not None and spec.task == "regression" and table.num_rows:
            column = lambda t, c: t.column(c).cast("float64").to_numpy(zero_copy_only=False)  # noqa: E731
            naive = naive_rule_prediction(rule, column(self.train.train, rule.feature), column(self.train.train, spec.target),
                                          column(table, rule.feature))
        return score_day(spec.task, self.metric, y, scores, naive, pre.target.decision_threshold)


def _earlier(context, key: dg.AssetKey, before: dt.date, days: int) -> dict[str, dict]:
    """The figures already recorded for the ``days`` days before ``before`` (latest materialization each)."""
    wanted = [(before - dt.timedelta(days=i)).isoformat() for i in range(days, 0, -1)]
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=wanted), limit=len(wanted) * 4).records
    out: dict[str, dict] = {}
    for record in sorted(records, key=lambda r: r.storage_id):  # later materializations win
        meta = record.asset_materialization.metadata
        if "live_error" in meta and "offline_error" in meta:
            out[record.asset_materialization.partition] = {
                "live": meta["live_error"].value, "offline": meta["offline_error"].value,
                "naive": meta["naive_error"].value if "naive_error" in meta else None,
                "version": meta["production_version"].value if "production_version" in meta else None}
    return out


def build_live_asset(spec: TrainingSpec, settings: Settings) -> dg.AssetsDefinition:
    key = dg.AssetKey([spec.name, "live_performance"])
    partitions = daily_partitions(spec)
    m = spec.monitoring

    @dg.asset(
        key=key, partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run(), group_name=spec.name,
        deps=[table.key("cleansed") for table in tables(spec)], kinds={"onnx"},
        check_specs=[dg.AssetCheckSpec(
            "live_error", asset=key, partitions_def=partitions, blocking=False,
            description=f"WARN when the production model's live {primary_metric(spec.task)} is above "
                        f"{m.live_error_ratio_warn:g} x its offline (holdout) figure for {m.live_warn_days} "
                        "consecutive days.")],
        description="The production model as served (its bundle through ONNX Runtime) scored on each day's "
                    "labelled rows, beside its offline holdout error and the naive rule on the same rows.",
    )
    def live_performance(context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource,
                         registry: RegistryResource, alerts: AlertsResource):
        store = artifacts.partitions()
        verdicts: dict[str, Verdict] = {}
        with failure_boundary(context, f"scoring the production model of {spec.name} on its days"):
            production = production_of(registry, spec, store)
            if production is None:
                for pk in context.partition_keys:
                    verdicts[pk] = Verdict(True, "WARN", "no production model to score")
                    context.add_asset_metadata({"status": "no production model"}, partition_key=pk)
            else:
                verdicts = _score(context, spec, production, store, key)
        warned = sorted(pk for pk, v in verdicts.items() if not v.passed)
        if warned:
            alert_days(alerts, settings, context, spec, "live_error", warned,
                       f"live error above {m.live_error_ratio_warn:g} x offline for {m.live_warn_days} days "
                       f"({production.version})", {pk: verdicts[pk].summary for pk in warned},
                       "the production model is degrading: look at the drift check, retrain (or roll back)")
        yield dg.MaterializeResult(asset_key=key)
        yield check_result("live_error", key, verdicts)

    def _score(context, spec, production: Production, store, key) -> dict[str, Verdict]:
        scorer = _Scorer(spec, production)
        metric = scorer.metric
        offline = float(production.model.metrics[metric])
        days = cleansed_days(store, spec)
        keys = sorted(context.partition_keys)
        # the days before this run's, scored for the same production model (a new model starts afresh)
        series = {pk: v for pk, v in _earlier(context, key, day_of(keys[0]), max(PLOT_DAYS, m.live_warn_days)).items()
                  if v["version"] == production.version}
        scored: dict[str, LiveScore] = {}
        for pk in keys:
            scored[pk] = scorer.score(day_rows(spec, day_of(pk), days.read_day, days.joined))
            series[pk] = {"live": scored[pk].live_error, "offline": offline, "naive": scored[pk].naive_error}
        judged = {d.day.isoformat(): d for d in judge_live(
            [(day_of(pk), v["live"], v["offline"]) for pk, v in series.items()], m.live_error_ratio_warn, m.live_warn_days)}
        shown = sorted(series)[-PLOT_DAYS:]
        png = live_vs_offline_png([day_of(pk) for pk in shown], [series[pk]["live"] for pk in shown],
                                  [series[pk]["offline"] for pk in shown], [series[pk]["naive"] for pk in shown],
                                  metric, m.live_error_ratio_warn)
        verdicts = {}
        for pk in keys:
            score, day = scored[pk], judged[pk]
            context.add_asset_metadata({
                "production_version": production.version, "metric": metric, "rows": score.rows,
                "live_error": score.live_error if score.live_error is not None else dg.MetadataValue.null(),
                "offline_error": offline,
                **({"naive_error": score.naive_error} if score.naive_error is not None else {}),
                "ratio_to_offline": day.ratio if day.ratio is not None else dg.MetadataValue.null(),
                "bad_days_in_a_row": day.streak, "figures": dg.MetadataValue.json(score.figures),
                **({"live_vs_offline": dg.MetadataValue.md(f"![live vs offline]({png_data_uri(png)})")} if pk == keys[-1] else {}),
            }, partition_key=pk)
            ratio = "no labelled rows" if day.ratio is None else f"live {metric} {score.live_error:.4g} = {day.ratio:.2f} x offline"
            verdicts[pk] = Verdict(not day.warn, "WARN", f"{ratio}; {day.streak} bad day(s) in a row" if day.ratio is not None else ratio)
        return verdicts

    return live_performance
