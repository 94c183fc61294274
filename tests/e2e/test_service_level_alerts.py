"""The pipeline's service levels, by causing what each indicator measures: a quiet week fires
nothing; a bad landed file lowers M3 and fails a run (M1), which then counts against the time
to recover (M5) until a corrected delivery builds the day again; a corrupted serving artifact
fails M7. Each alert fires once per incident and resolves; Prometheus scrapes the figures.

The alert sensor is the platform's own (sensors/service_levels.py) on the deployment's real
instance; only its clock is set, so that "an hour later" needs no hour.
"""

import json
import os
import urllib.request
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from dagster import build_sensor_context
from prometheus_client.parser import text_string_to_metric_families

from assets.monitor.indicators import (
    REPRODUCIBILITY,
    SERVICE_LEVELS,
    SERVING_ARTIFACTS,
    Sources,
    indicator_events,
)
from assets.monitor.prometheus import ServiceLevelCollector, serve_metrics
from core.ingest.contract import landing_path
from core.ingest.upstream import deliver_days
from core.monitor.service_levels import load_objectives
from core.train.model_spec import load_specs
from sensors.service_levels import build_service_level_sensor
from tests.e2e.test_promotion import MODEL, NEXT_DAY, SHORT_SHADOW, with_weak_champion
from tools import daemon_loop
from tools.sandbox import Platform
from tools.ticks import execute_requests, tick_new_data
from tools.webhook import WebhookReceiver

WEEK = (date(2013, 3, 1), date(2013, 3, 7))
BAD_DAY = date(2013, 3, 8)
MINUTE = timedelta(minutes=1)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def sources(platform) -> Sources:
    settings = platform.settings
    return Sources.of(settings, load_specs(settings.model_specs_dir, settings.dbt_manifest_path,
                                           platform.spec_overrides))


def objectives(platform):
    return load_objectives(platform.settings.objectives_file)


def events_at(platform, now: datetime) -> dict:
    return indicator_events(platform.instance, objectives(platform), now, sources(platform))


def alert_sensor(platform, clock, webhook_url=None):
    return build_service_level_sensor(objectives(platform), sources(platform),
                                      platform.settings.data_dir / "alerts.jsonl", webhook_url,
                                      clock)


class AlertTicks:
    """The alert sensor ticked again and again, its cursor carried as the daemon carries it."""

    def __init__(self, platform, now: datetime, webhook_url: str | None = None):
        self.platform, self.clock, self.cursor = platform, Clock(now), None
        self.sensor = alert_sensor(platform, self.clock, webhook_url)

    def at(self, now: datetime) -> list[dict]:
        """Tick at ``now``: the notices delivered by this tick, as the alerts file has them."""
        alerts = self.platform.settings.data_dir / "alerts.jsonl"
        before = len(alerts.read_text().splitlines()) if alerts.exists() else 0
        self.clock.now = now
        context = build_sensor_context(instance=self.platform.instance, cursor=self.cursor)
        result = self.sensor(context)
        self.cursor = context.cursor
        self.state = result.skip_message
        lines = alerts.read_text().splitlines() if alerts.exists() else []
        return [json.loads(line) for line in lines[before:]]


def last_run_end(instance) -> datetime:
    record = instance.get_run_records(limit=1)[0]
    return datetime.fromtimestamp(record.end_time, tz=timezone.utc)


@pytest.fixture(scope="module")
def incident(tmp_path_factory, definitions_module, runner):
    """A quiet week landed and built, ticked; then a broken file for the next day."""
    platform = Platform(tmp_path_factory.mktemp("slo"), definitions_module, runner)
    platform.land(*WEEK)
    assert all(platform.materialize(*WEEK).values())
    alerts = AlertTicks(platform, last_run_end(platform.instance) + MINUTE)
    quiet = alerts.at(alerts.clock.now)
    quiet_state = alerts.state

    platform.land(BAD_DAY, BAD_DAY)
    schedule = landing_path(platform.settings.landing_dir, "schedule", BAD_DAY)
    good_text = schedule.read_text()
    schedule.write_text(good_text.replace("year,", "yeer,", 1))  # the header breaks the contract
    assert not all(platform.materialize(BAD_DAY, BAD_DAY).values())
    failed_at = last_run_end(platform.instance)
    return platform, alerts, quiet, quiet_state, failed_at, schedule, good_text


def test_a_quiet_week_fires_nothing(incident):
    _, _, quiet, quiet_state, *_ = incident
    assert quiet == []
    assert quiet_state.startswith("no objective burning")


def test_a_bad_file_and_its_failed_run_alert_once_then_resolve(incident):
    platform, alerts, _, _, failed_at, schedule, good_text = incident
    events = events_at(platform, failed_at + MINUTE)
    # M3: the week's 21 files (3 datasets x 7 days) ingested, the broken one quarantined
    m3 = events["M3"]
    assert (sum(e.good for e in m3), sum(not e.good for e in m3)) == (21, 1)
    (rejected,) = [e for e in m3 if not e.good]
    assert str(schedule) in rejected.subject and "/runs/" in rejected.link
    # M1: the failed run among the week's successful ones
    assert sum(not e.good for e in events["M1"]) == 1 and len(events["M1"]) >= 3
    # M5: no verdict yet; five hours on, unrecovered, it counts against the objective
    assert events["M5"] == []
    late = events_at(platform, failed_at + timedelta(hours=5))["M5"]
    assert [e.good for e in late] == [False] and BAD_DAY.isoformat() in late[0].subject

    opened = alerts.at(failed_at + MINUTE)
    assert opened and {a["kind"] for a in opened} == {"slo_alert"}
    assert {a["objective"] for a in opened} == {"M1", "M3"}
    assert len({a["key"] for a in opened}) == len(opened)  # one alert per objective and rule
    m3_alert = next(a for a in opened if a["objective"] == "M3")
    assert m3_alert["runbook"] == "docs/oncall.md#m3-landed-files-accepted"
    assert m3_alert["owner"] and str(schedule) in m3_alert["text"]
    assert m3_alert["burn"]["long"]["bad"] == 1
    assert alerts.at(failed_at + 2 * MINUTE) == []  # the burn goes on: nothing more is said

    # the corrected delivery: the day is built again, within the time to recover
    schedule.write_text(good_text)
    assert all(platform.materialize(BAD_DAY, BAD_DAY).values())
    recovered = events_at(platform, last_run_end(platform.instance) + MINUTE)["M5"]
    assert [e.good for e in recovered] == [True]

    # seven hours on, every window has left the failure behind: each incident resolves once
    resolved = alerts.at(failed_at + timedelta(hours=7))
    assert sorted(a["key"] for a in resolved) == sorted(a["key"] for a in opened)
    assert {a["kind"] for a in resolved} == {"slo_resolve"}
    assert alerts.at(failed_at + timedelta(hours=7, minutes=1)) == []


def test_each_alert_is_posted_to_the_webhook_as_written(incident):
    platform, _, _, _, failed_at, *_ = incident
    with WebhookReceiver() as hook:  # a real HTTP endpoint, where a chat or pager would be
        written = AlertTicks(platform, failed_at, hook.url).at(failed_at + MINUTE)
    assert "M1" in {a["objective"] for a in written}  # the failed run
    assert hook.received == written


def test_prometheus_scrapes_the_indicators_and_the_burn(incident):
    platform, _, _, _, failed_at, *_ = incident
    collector = ServiceLevelCollector(platform.instance, objectives(platform), sources(platform),
                                      Clock(failed_at + MINUTE))
    port = daemon_loop.free_port()
    server, thread = serve_metrics(collector, port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        thread.join(10)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}

    def value(metric, **labels):
        return samples[(metric, tuple(sorted(labels.items())))]

    m3 = {"objective": "M3", "indicator": "landed_files_accepted"}
    assert value("pipeline_slo_target", **m3) == 0.999
    assert value("pipeline_sli_events", **m3, outcome="bad") == 1
    assert value("pipeline_sli_good_ratio", **m3) < 0.999
    assert value("pipeline_error_budget_remaining", **m3) < 0
    assert value("pipeline_burn_alert_firing", **m3, rule="fast", severity="page") == 1
    assert value("pipeline_burn_alert_firing", objective="M7", indicator="serving_artifact_intact",
                 rule="broken", severity="page") == 0


@pytest.fixture(scope="module")
def served(built_platform, tmp_path_factory):
    """A weak champion (its spec's seed: it reproduces), then Feb 13 flies and lands with Feb
    14's schedule, and the new-data sensor's runs serve Feb 14 (M2)."""
    platform = with_weak_champion(built_platform, tmp_path_factory.mktemp("champion"))
    landing = platform.settings.landing_dir
    _, cursor = tick_new_data(platform.defs, platform.instance, landing, None,
                              platform.settings.warehouse_path)
    deliver_days(landing, NEXT_DAY, NEXT_DAY)  # Feb 13's outcomes, weather; Feb 14's schedule
    requests, _ = tick_new_data(platform.defs, platform.instance, landing, cursor)
    assert execute_requests(platform, requests)
    return platform


def test_a_day_served_from_its_landing_and_a_training_are_within_their_objectives(served):
    events = events_at(served, last_run_end(served.instance) + MINUTE)
    (day,) = events["M2"]
    assert day.good and "2013-02-14 served" in day.subject
    seconds = float(day.subject.split(" served ")[1].split(" s ")[0])
    assert 0 < seconds < 3600
    # The supplier re-sends Feb 14's schedule an hour later: when the day landed stays put.
    resent = landing_path(served.settings.landing_dir, "schedule", NEXT_DAY + timedelta(days=1))
    later = resent.stat().st_mtime + 3600
    os.utime(resent, (later, later))
    assert events_at(served, last_run_end(served.instance) + MINUTE)["M2"][0].subject \
        == day.subject
    (training,) = events["M6"]  # the weak champion's training recorded its own cost
    assert training.good and training.subject.startswith(MODEL.name)
    metadata = served.instance.get_latest_materialization_event(
        MODEL.model).asset_materialization.metadata
    assert metadata["cpu_seconds"].value > 0 and metadata["peak_memory_mb"].value > 100

    # M4: the drift report of the flown day compares the realized AUC with the holdout's
    assert served.execute([MODEL.drift_report], partition_key=str(NEXT_DAY)).success
    (gap,) = events_at(served, last_run_end(served.instance) + MINUTE)["M4"]
    assert gap.subject.startswith(f"{MODEL.name} ") and "on its holdout" in gap.subject


def test_a_corrupted_serving_artifact_fails_its_probe_and_pages(served, tmp_path):
    platform = served.clone(tmp_path / "m7")  # the artifact is damaged in this copy alone
    assert platform.execute([SERVING_ARTIFACTS, REPRODUCIBILITY]).success
    for key in (SERVING_ARTIFACTS, REPRODUCIBILITY):  # intact, and its training reproduces
        probes = platform.instance.get_latest_materialization_event(key).asset_materialization
        assert [p["reason"] for p in probes.metadata["probes"].value] == [""], key
    alerts = AlertTicks(platform, last_run_end(platform.instance) + MINUTE)
    assert [a for a in alerts.at(alerts.clock.now) if a["objective"] in ("M7", "M8")] == []

    with platform.warehouse.connect(read_only=True) as con:
        (directory,) = con.execute("select artifact_dir from ml.model_registry where"
                                   " model_name = ? and stage = 'champion'",
                                   [MODEL.name]).fetchone()
    onnx = Path(directory) / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-64])  # a truncated copy, as a bad sync would leave
    result = platform.execute([SERVING_ARTIFACTS, SERVICE_LEVELS])
    assert result.success, [str(e.event_specific_data) for e in result.all_events if e.is_failure]
    probe = platform.instance.get_latest_materialization_event(SERVING_ARTIFACTS)
    (broken,) = probe.asset_materialization.metadata["probes"].value
    assert "registered" in broken["reason"] and str(onnx) in broken["reason"]

    paged = [a for a in alerts.at(last_run_end(platform.instance) + MINUTE)
             if a["objective"] == "M7"]
    assert [a["kind"] for a in paged] == ["slo_alert"]
    assert MODEL.name in paged[0]["text"] and "m7-serving-artifact-intact" in paged[0]["text"]
    table = platform.instance.get_latest_materialization_event(SERVICE_LEVELS)
    assert "FIRING" in table.asset_materialization.metadata["objectives"].value


# Early stopping holds out a random tenth of the rows: with no seed, each training differs.
UNSEEDED = {MODEL.name: {**SHORT_SHADOW[MODEL.name], "estimator": {"params": {
    "random_state": None, "early_stopping": True}}}}


def test_a_training_that_does_not_reproduce_fails_m8(built_platform, tmp_path):
    platform = with_weak_champion(built_platform, tmp_path / "m8", UNSEEDED)
    assert platform.execute([REPRODUCIBILITY]).success
    probe = platform.instance.get_latest_materialization_event(REPRODUCIBILITY)
    (differs,) = probe.asset_materialization.metadata["probes"].value
    assert "retrained on the same" in differs["reason"]
    ticket = [a for a in AlertTicks(platform, last_run_end(platform.instance) + MINUTE).at(
        last_run_end(platform.instance) + MINUTE) if a["objective"] == "M8"]
    assert [(a["kind"], a["severity"]) for a in ticket] == [("slo_alert", "ticket")]
