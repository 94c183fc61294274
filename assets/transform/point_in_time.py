"""The point-in-time audit of a feature model (core/transform/point_in_time.py says what it proves): a
blocking asset check on the model, and the guard every training set passes first.

For each audited day the warehouse's raw tables are copied as they stood at the day's
prediction time (later files left out), the feature model and its ancestors are rebuilt there
by dbt, and the day's rows are compared with the stored ones. An audit runs once per
``audit_key`` (the SQL and configuration upstream, the declared inputs); its verdict is kept
in the warehouse (audits.point_in_time), so the daily runs that follow only read it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check
from dagster_dbt import DbtCliResource

from assets.keys import FEATURES
from assets.partitions import daily_partitions, window_days
from assets.policies import WAREHOUSE_STEP
from core.ingest.contract import DAILY_DATASETS, REFERENCE_TABLES, last_known_day
from core.transform.model_inputs import inputs_of, model_node
from core.transform.point_in_time import (
    DAY,
    AuditResult,
    ColumnDifference,
    as_of,
    audit_key,
    compare,
    record_audit,
    recorded_audit,
    same_day_reads_after_the_day,
    sample_days,
    unit_test_gaps,
)
from internals.dbt_in_process import run_dbt
from resources.dbt import environment
from resources.warehouse import DuckDBWarehouse

CHECK_NAME = "known_by_prediction_time"


@dataclass(frozen=True)
class PointInTimeAuditor:
    """Audits one feature model of the loaded dbt project."""

    feature_model: str
    relation: str  # schema.table of the model in the warehouse
    key: str  # core/point_in_time.audit_key of the loaded project
    problems: tuple[str, ...]  # the manifest's rules broken (core/point_in_time)
    prediction_lead_days: int
    sample_size: int
    work_dir: Path  # where the as-of warehouses are built (emptied after each audit)

    @classmethod
    def from_manifest(cls, manifest_path: Path, feature_model: str, prediction_lead_days: int,
                      sample_size: int, work_dir: Path) -> PointInTimeAuditor:
        manifest = json.loads(Path(manifest_path).read_text())
        node = model_node(manifest, feature_model)
        inputs = inputs_of(node)
        return cls(feature_model, f"{node['schema']}.{node['alias']}",
                   audit_key(manifest, feature_model, inputs, prediction_lead_days),
                   tuple([*same_day_reads_after_the_day(manifest, feature_model),
                          *unit_test_gaps(manifest, feature_model, inputs)]),
                   prediction_lead_days, sample_size, Path(work_dir))

    def auditable_days(self, con, first: date, last: date) -> list[date]:
        """The stored days of first..last after whose prediction time something has landed:
        only there could a rebuild as of that time differ."""
        stored = [day for (day,) in con.execute(
            f"select distinct {DAY} from {self.relation} where {DAY} between ? and ?"
            " order by 1", [first, last]).fetchall()]
        newest = {}
        for name in DAILY_DATASETS:
            rows = con.execute(f"select max(partition_date) from raw.{name}").fetchall()
            newest[name] = rows[0][0]
        return [day for day in stored if any(
            newest[name] is not None and newest[name] > last_known_day(dataset, day,
                                                                       self.prediction_lead_days)
            for name, dataset in DAILY_DATASETS.items())]

    def verdict(self, warehouse: DuckDBWarehouse, dbt: DbtCliResource, first: date, last: date,
                log) -> AuditResult | None:
        """The audit of the loaded project: the recorded one, topped up with days of
        first..last until it has compared ``sample_size`` days (recorded again); None when no
        day has had anything land after its prediction time yet. A failed audit stays failed:
        the same SQL gives the same rows."""
        with warehouse.connect(read_only=True) as con:
            recorded = recorded_audit(con, self.feature_model, self.key)
            if recorded is not None and (not recorded.passed
                                         or len(recorded.days) >= self.sample_size):
                return recorded
            seen = set(recorded.days) if recorded else set()
            days = sample_days([day for day in self.auditable_days(con, first, last)
                                if day not in seen], self.sample_size - len(seen))
        if not days:
            if recorded is None and self.problems:  # the manifest's rules alone decide
                recorded = AuditResult(self.feature_model, self.key, (), 0, (),
                                       problems=self.problems)
                with warehouse.transaction() as con:
                    record_audit(con, recorded)
            return recorded
        result = combined(recorded, self.audit(warehouse, dbt, days, log))
        with warehouse.transaction() as con:
            record_audit(con, result)
        return result

    def audit(self, warehouse: DuckDBWarehouse, dbt: DbtCliResource, days: list[date],
              log) -> AuditResult:
        """Rebuild each day twice, from everything landed now and from only what had landed
        by its prediction time: a column that differs read the future. The stored rows are
        compared with the rebuild from now as well: a difference there means they predate
        data or SQL that is in now (stale, to rebuild), not a leak."""
        leaks, stale, rows, columns = [], [], 0, ()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="as-of-", dir=self.work_dir))
        # One warehouse path for every rebuild: dbt parses the project once for all of them.
        rebuilt = work / Path(warehouse.path).name
        try:
            started = time.perf_counter()
            warehouse.copy_as_of(rebuilt, {}, whole=(*DAILY_DATASETS, *REFERENCE_TABLES))
            with_everything = {day: self._build(dbt, rebuilt, work, day) for day in days}
            log(f"point-in-time audit: {len(days)} day(s) rebuilt from everything landed now"
                f" in {time.perf_counter() - started:.1f}s")
            for number, day in enumerate(days, 1):
                started = time.perf_counter()
                warehouse.copy_as_of(rebuilt, as_of(day, self.prediction_lead_days),
                                     whole=REFERENCE_TABLES)
                known_then = self._build(dbt, rebuilt, work, day)
                with warehouse.connect(read_only=True) as con:
                    stored = con.execute(f"select * from {self.relation} where {DAY} = ?",
                                         [day]).df()
                leaks += compare(with_everything[day], known_then)
                stale += compare(stored, with_everything[day], kind="stale")
                rows, columns = rows + len(known_then), tuple(known_then.columns)
                log(f"point-in-time audit [{number}/{len(days)}] {day}: {len(known_then):,} rows"
                    f" rebuilt as of its prediction time in {time.perf_counter() - started:.1f}s")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return AuditResult(self.feature_model, self.key, tuple(days), rows, columns,
                           _merged(leaks), self.problems, _merged(stale))

    def _build(self, dbt: DbtCliResource, rebuilt: Path, work: Path, day: date):
        """The model's rows of ``day`` built by dbt in the warehouse ``rebuilt``: everything
        upstream over the whole history it holds, then the model for the day."""
        where = {"project_dir": Path(dbt.project_dir), "profiles_dir":
                 Path(dbt.profiles_dir or dbt.project_dir), "target_path": work / "target",
                 "parse_independent_env": ("DBT_MIN_DATE", "DBT_MAX_DATE")}
        with DuckDBWarehouse(path=str(rebuilt)).connect(read_only=True) as con:
            first = con.execute("select min(partition_date) from raw.schedule").fetchall()[0][0]
        with environment(WAREHOUSE_PATH=str(rebuilt), DBT_MIN_DATE=str(first or day),
                         DBT_MAX_DATE=str(day)):
            run_dbt(["run", "--select", f"+{self.feature_model}", "--exclude",
                     self.feature_model], **where)
        with environment(WAREHOUSE_PATH=str(rebuilt), DBT_MIN_DATE=str(day),
                         DBT_MAX_DATE=str(day)):
            run_dbt(["run", "--select", self.feature_model], **where)
        with DuckDBWarehouse(path=str(rebuilt)).connect(read_only=True) as con:
            return con.execute(f"select * from {self.relation} where {DAY} = ?", [day]).df()


def combined(before: AuditResult | None, new: AuditResult) -> AuditResult:
    """An audit topped up with more days: every day compared, every difference found."""
    if before is None:
        return new
    return AuditResult(new.feature_model, new.audit_key,
                       tuple(sorted({*before.days, *new.days})), before.rows + new.rows,
                       new.columns, _merged([*before.differences, *new.differences]),
                       new.problems, _merged([*before.stale, *new.stale]))


def _merged(differences) -> tuple:
    """One difference per column over all audited days (its first example kept)."""
    by_column: dict[str, ColumnDifference] = {}
    for difference in differences:
        seen = by_column.get(difference.column)
        by_column[difference.column] = difference if seen is None else ColumnDifference(
            seen.column, tuple(sorted({*seen.days, *difference.days})),
            seen.rows + difference.rows, seen.example, seen.kind)
    return tuple(by_column.values())


def build_point_in_time_check(auditor: PointInTimeAuditor):
    """Blocking: a feature table whose rows are not what was known at the prediction time
    stops what follows it in the run (its day's predictions), and no training set takes it."""

    @asset_check(
        asset=FEATURES,
        name=CHECK_NAME,
        blocking=True,
        partitions_def=daily_partitions,
        **WAREHOUSE_STEP,
        description="Every column equals its value rebuilt as of the prediction time (only the"
                    " files landed by then), on a sample of days, whenever the SQL upstream or"
                    " the declared inputs change; parents landing after the day are read only"
                    " through days_read; the point-in-time unit test expects every input.",
    )
    def known_by_prediction_time(context, warehouse: DuckDBWarehouse, dbt: DbtCliResource):
        first, last = window_days(context.partition_time_window)
        result = auditor.verdict(warehouse, dbt, first, last, context.log.info)
        if result is None:
            return AssetCheckResult(passed=True, severity=AssetCheckSeverity.ERROR, metadata={
                "audit_key": auditor.key,
                "evidence": f"nothing after the prediction time of {first}..{last} has landed"
                            " yet: there is nothing to leak; audited once there is"})
        if not result.passed:
            context.log.error(result.describe())
        return AssetCheckResult(
            passed=result.passed, severity=AssetCheckSeverity.ERROR, metadata={
                "audit_key": auditor.key,
                "evidence": result.evidence(),
                "failed_columns": MetadataValue.json(result.failed_columns),
                "problems": MetadataValue.md("\n".join(f"- {p}" for p in result.problems)
                                             or "none"),
                "audit": MetadataValue.md(result.describe()),
            })

    return known_by_prediction_time


def audit_for_training(auditor: PointInTimeAuditor, warehouse: DuckDBWarehouse,
                       dbt: DbtCliResource, first: date, last: date, log) -> AuditResult:
    """The audit a training set over first..last relies on: the recorded one, or one run now on
    days of the window (every training day has landed labels, so its future exists)."""
    result = auditor.verdict(warehouse, dbt, first, last, log)
    if result is None:  # cannot happen on labeled days; said plainly if it does
        return AuditResult(auditor.feature_model, auditor.key, (), 0, (),
                           problems=(f"no day of {first}..{last} could be audited",))
    return result


def evidence_for_people(result: AuditResult) -> dict:
    """The audit as a model's lineage records it."""
    return {"audit_key": result.audit_key, "passed": result.passed,
            "days": [str(d) for d in result.days], "rows": result.rows,
            "columns": len(result.columns), "failed_columns": result.failed_columns,
            "problems": list(result.problems)}

