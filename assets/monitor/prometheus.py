"""The service levels in Prometheus's text format, for an existing Prometheus and Grafana to
scrape (`make metrics`, platform/cli.py metrics). Each scrape reads the instance afresh: the
figures are the alert sensor's, at the moment of the scrape.

Metrics (labels: objective, indicator; rule, window and severity on the burn ones):
- pipeline_slo_target: the objective's target share of good events;
- pipeline_sli_good_ratio: the good share over the objective's window (absent with no events);
- pipeline_sli_events: events over the window, by outcome (good, bad);
- pipeline_error_budget_remaining: the share of the window's budget left (negative: overspent);
- pipeline_burn_rate: the burn rate over each rule's long and short windows;
- pipeline_burn_alert_firing: 1 while a rule fires.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from dagster import DagsterInstance
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily

from assets.monitor.indicators import Sources, indicator_events
from core.monitor.service_levels import Objective, budget, rule_states


class ServiceLevelCollector:
    def __init__(self, instance: DagsterInstance, objectives: list[Objective], sources: Sources,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.instance, self.objectives, self.sources, self.clock = (
            instance, objectives, sources, clock)

    def collect(self):
        now = self.clock()
        events = indicator_events(self.instance, self.objectives, now, self.sources)
        labels = ["objective", "indicator"]
        target = GaugeMetricFamily("pipeline_slo_target", "the objective's target share of good"
                                   " events", labels=labels)
        good = GaugeMetricFamily("pipeline_sli_good_ratio", "good events over all, over the"
                                 " objective's window", labels=labels)
        counts = GaugeMetricFamily("pipeline_sli_events", "events over the objective's window",
                                   labels=[*labels, "outcome"])
        left = GaugeMetricFamily("pipeline_error_budget_remaining", "share of the window's"
                                 " error budget left", labels=labels)
        rates = GaugeMetricFamily("pipeline_burn_rate", "bad share over the allowed bad share",
                                  labels=[*labels, "rule", "window"])
        fires = GaugeMetricFamily("pipeline_burn_alert_firing", "1 while the rule fires",
                                  labels=[*labels, "rule", "severity"])
        for objective in self.objectives:
            mine, ids = events[objective.id], [objective.id, objective.name]
            spent = budget(objective, mine, now)
            target.add_metric(ids, objective.target)
            if spent.good_share is not None:
                good.add_metric(ids, spent.good_share)
            counts.add_metric([*ids, "good"], spent.total - spent.bad)
            counts.add_metric([*ids, "bad"], spent.bad)
            left.add_metric(ids, spent.remaining)
            for state in rule_states(objective, mine, now):
                rates.add_metric([*ids, state.rule.name, "long"], state.long.rate)
                rates.add_metric([*ids, state.rule.name, "short"], state.short.rate)
                fires.add_metric([*ids, state.rule.name, state.rule.severity], float(state.fires))
        yield from (target, good, counts, left, rates, fires)


def serve_metrics(collector: ServiceLevelCollector, port: int, address: str = "127.0.0.1"):
    """Serve /metrics on ``address:port`` from a thread; returns the server and its thread."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    return start_http_server(port, addr=address, registry=registry)
