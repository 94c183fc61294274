"""Service level objectives of the pipeline itself: error budgets and multi-window burn rates.

An indicator is a stream of events, each good or bad (a run that ended, a landed file judged, an
artifact probed). An objective asks that at least ``target`` of them be good over a rolling
``window``; what it allows to be bad is its error budget. The burn rate over a stretch of time
is how fast the budget goes: the bad share there divided by the allowed bad share (1 is the pace
that spends exactly the budget over the window).

An alert fires when the burn rate is at least a rule's rate over its long window AND its short
window (the SRE workbook's multi-window burn-rate alerts): the long window says enough budget is
gone to matter, the short one that it is still going now. A blip that has passed leaves the
short window, so it does not page; a burn that stops resolves within the short window. A rule
also needs ``min_events`` in its long window: one failure among two runs is no evidence.

Nothing here knows Dagster: events come in as plain values (assets/monitor/indicators.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml

SEVERITIES = ("page", "ticket")


class ObjectivesError(ValueError):
    """The objectives file breaks a rule: the message names the file, the objective and the
    field."""


@dataclass(frozen=True)
class Event:
    at: datetime
    good: bool
    subject: str  # what it is about: a run id, a landed file, a model version
    link: str = ""  # where to look at it (the run's page in the UI)


@dataclass(frozen=True)
class BurnRule:
    name: str
    severity: str
    long_window: timedelta
    short_window: timedelta
    burn_rate: float
    min_events: int


@dataclass(frozen=True)
class Objective:
    id: str
    name: str
    description: str
    target: float
    window: timedelta
    runbook: str  # the section of docs/oncall.md to follow
    owner: str
    rules: tuple[BurnRule, ...] = field(default=())
    within: timedelta | None = None  # a time limit the indicator judges by (M5: recover within)
    # a limit the indicator judges by that is not a time (M4: the largest relative gap)
    threshold: float | None = None
    # per model (or "default"), a limit per cost: what one training may use (M6)
    budgets: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def allowed_bad(self) -> float:
        return 1.0 - self.target


@dataclass(frozen=True)
class Burn:
    window: timedelta
    bad: int
    total: int
    rate: float  # 0 when the window holds no event: nothing is burning


@dataclass(frozen=True)
class Budget:
    bad: int
    total: int
    good_share: float | None  # None: no event in the window
    remaining: float  # share of the window's budget left (negative: overspent)


@dataclass(frozen=True)
class Firing:
    objective: Objective
    rule: BurnRule
    long: Burn
    short: Burn
    behind: tuple[Event, ...]  # the bad events of the long window, newest first

    @property
    def key(self) -> str:
        return f"{self.objective.id}/{self.rule.name}"


def _in(events: list[Event], now: datetime, window: timedelta) -> list[Event]:
    return [e for e in events if now - window < e.at <= now]


def burn(events: list[Event], now: datetime, window: timedelta, allowed_bad: float) -> Burn:
    inside = _in(events, now, window)
    bad = sum(not e.good for e in inside)
    rate = (bad / len(inside)) / allowed_bad if inside else 0.0
    return Burn(window, bad, len(inside), rate)


def budget(objective: Objective, events: list[Event], now: datetime) -> Budget:
    inside = _in(events, now, objective.window)
    bad = sum(not e.good for e in inside)
    if not inside:
        return Budget(0, 0, None, 1.0)
    spent = (bad / len(inside)) / objective.allowed_bad
    return Budget(bad, len(inside), 1 - bad / len(inside), 1.0 - spent)


@dataclass(frozen=True)
class RuleState:
    rule: BurnRule
    long: Burn
    short: Burn
    fires: bool


def rule_states(objective: Objective, events: list[Event], now: datetime) -> list[RuleState]:
    """Each rule of the objective at ``now``: its burn over both windows, and whether it fires."""
    states = []
    for rule in objective.rules:
        long = burn(events, now, rule.long_window, objective.allowed_bad)
        short = burn(events, now, rule.short_window, objective.allowed_bad)
        fires = (long.total >= rule.min_events and long.rate >= rule.burn_rate
                 and short.rate >= rule.burn_rate)
        states.append(RuleState(rule, long, short, fires))
    return states


def firing(objective: Objective, events: list[Event], now: datetime) -> list[Firing]:
    """The objective's rules that fire at ``now``, with the bad events behind each."""
    fired = []
    for state in rule_states(objective, events, now):
        if state.fires:
            behind = sorted((e for e in _in(events, now, state.rule.long_window) if not e.good),
                            key=lambda e: e.at, reverse=True)
            fired.append(Firing(objective, state.rule, state.long, state.short, tuple(behind)))
    return fired


@dataclass(frozen=True)
class Notice:
    kind: str  # "alert" or "resolve"
    key: str  # objective/rule: one incident at a time per key
    text: str
    severity: str
    details: dict


def step_incidents(open_incidents: dict[str, str], fired: list[Firing], now: datetime,
                   ) -> tuple[dict[str, str], list[Notice]]:
    """Given the incidents open before (key -> when it opened) and what fires now: the
    incidents open after, and one notice per change — an alert when one opens, a resolve when
    its burn stops. A burn that goes on says nothing more."""
    now_open = dict(open_incidents)
    notices = []
    by_key = {f.key: f for f in fired}
    for key, fire in by_key.items():
        if key not in open_incidents:
            now_open[key] = now.isoformat()
            notices.append(Notice("alert", key, alert_text(fire), fire.rule.severity,
                                  alert_details(fire)))
    for key, opened in open_incidents.items():
        if key not in by_key:
            del now_open[key]
            notices.append(Notice("resolve", key,
                                  f"RESOLVED {key}: the burn stopped (open since {opened})",
                                  "resolve", {"key": key, "opened": opened}))
    return now_open, notices


def _hours(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 1 else f"{window.total_seconds() / 60:g}m"


def alert_text(fire: Firing) -> str:
    o, r = fire.objective, fire.rule
    behind = ", ".join(f"{e.subject} {e.link}".strip() for e in fire.behind[:5])
    more = f" and {len(fire.behind) - 5} more" if len(fire.behind) > 5 else ""
    return (f"{r.severity.upper()} {o.id} {o.name} ({o.target:.1%} over {_hours(o.window)}):"
            f" {r.name} burn {fire.long.rate:.1f}x over {_hours(r.long_window)}"
            f" ({fire.long.bad} bad of {fire.long.total}) and {fire.short.rate:.1f}x over"
            f" {_hours(r.short_window)} ({fire.short.bad} of {fire.short.total}),"
            f" threshold {r.burn_rate:g}x. Behind it: {behind}{more}. Owner: {o.owner}."
            f" Runbook: docs/oncall.md#{o.runbook}")


def alert_details(fire: Firing) -> dict:
    o, r = fire.objective, fire.rule
    return {
        "objective": o.id, "name": o.name, "target": o.target, "rule": r.name,
        "severity": r.severity, "owner": o.owner, "runbook": f"docs/oncall.md#{o.runbook}",
        "burn": {"long": {"window_hours": r.long_window.total_seconds() / 3600,
                          "bad": fire.long.bad, "total": fire.long.total,
                          "rate": round(fire.long.rate, 2)},
                 "short": {"window_hours": r.short_window.total_seconds() / 3600,
                           "bad": fire.short.bad, "total": fire.short.total,
                           "rate": round(fire.short.rate, 2)},
                 "threshold": r.burn_rate},
        "behind": [{"subject": e.subject, "at": e.at.isoformat(), "link": e.link}
                   for e in fire.behind],
    }


# --- the objectives file ----------------------------------------------------------------------

def _duration(text, where: str) -> timedelta:
    units = {"m": "minutes", "h": "hours", "d": "days"}
    value = str(text).strip()
    try:
        amount = float(value[:-1])
        unit = units[value[-1]]
    except (ValueError, KeyError, IndexError):
        raise ObjectivesError(f"{where}: {text!r} is not a duration like 5m, 6h or 7d") from None
    if amount <= 0:
        raise ObjectivesError(f"{where}: {text!r} must be longer than nothing")
    return timedelta(**{unit: amount})


def _required(entry: dict, name: str, where: str):
    if name not in entry:
        raise ObjectivesError(f"{where}: `{name}` is required")
    return entry[name]


def load_objectives(path: Path) -> list[Objective]:
    """The objectives of ``path``. Its ``rules`` are the burn-rate rules every objective uses
    unless it sets its own; each objective's fields are checked, by name."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ObjectivesError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("objectives"), list):
        raise ObjectivesError(f"{path}: expected a mapping with a list `objectives`")
    default_rules = _rules(document.get("rules", []), f"{path}: rules")
    objectives, seen = [], set()
    for number, entry in enumerate(document["objectives"], start=1):
        where = f"{path}: objective {number}"
        if not isinstance(entry, dict):
            raise ObjectivesError(f"{where}: expected a mapping")
        oid = str(_required(entry, "id", where))
        where = f"{path}: objective {oid}"
        if oid in seen:
            raise ObjectivesError(f"{where}: the id is used twice")
        seen.add(oid)
        target = _required(entry, "target", where)
        if not isinstance(target, (int, float)) or not 0 < target < 1:
            raise ObjectivesError(f"{where}: `target` {target!r} must be a share between 0 and 1"
                                  " (0.99 for 99 %)")
        rules = _rules(entry["rules"], f"{where}: rules") if "rules" in entry else default_rules
        objectives.append(Objective(
            id=oid, name=str(_required(entry, "name", where)),
            description=str(entry.get("description", "")), target=float(target),
            window=_duration(_required(entry, "window", where), f"{where}: window"),
            runbook=str(_required(entry, "runbook", where)),
            owner=str(entry.get("owner", document.get("owner", "unowned"))), rules=rules,
            within=_duration(entry["within"], f"{where}: within") if "within" in entry else None,
            threshold=_threshold(entry.get("threshold"), f"{where}: threshold"),
            budgets=_budgets(entry.get("budgets", {}), f"{where}: budgets")))
    return objectives


def _threshold(value, where: str) -> float | None:
    if value is not None and (not isinstance(value, (int, float)) or value < 0):
        raise ObjectivesError(f"{where}: {value!r} must be a number ≥ 0")
    return None if value is None else float(value)


def _budgets(entries, where: str) -> dict[str, dict[str, float]]:
    if not isinstance(entries, dict):
        raise ObjectivesError(f"{where}: expected a mapping of model (or default) to limits")
    for model, limits in entries.items():
        if not isinstance(limits, dict) or not all(
                isinstance(v, (int, float)) and v > 0 for v in limits.values()):
            raise ObjectivesError(f"{where}: {model}: expected positive limits, like"
                                  " {cpu_seconds: 900, peak_memory_mb: 4096}")
    return {model: {k: float(v) for k, v in limits.items()} for model, limits in entries.items()}


def _rules(entries, where: str) -> tuple[BurnRule, ...]:
    if not isinstance(entries, list):
        raise ObjectivesError(f"{where}: expected a list")
    rules = []
    for entry in entries:
        name = str(_required(entry, "name", where))
        here = f"{where}: {name}"
        severity = _required(entry, "severity", here)
        if severity not in SEVERITIES:
            raise ObjectivesError(f"{here}: severity {severity!r} is not one of {SEVERITIES}")
        long = _duration(_required(entry, "long_window", here), f"{here}: long_window")
        short = _duration(_required(entry, "short_window", here), f"{here}: short_window")
        if short >= long:
            raise ObjectivesError(f"{here}: short_window must be shorter than long_window")
        rate = _required(entry, "burn_rate", here)
        if not isinstance(rate, (int, float)) or rate <= 0:
            raise ObjectivesError(f"{here}: burn_rate {rate!r} must be a positive number")
        min_events = entry.get("min_events", 1)
        if not isinstance(min_events, int) or min_events < 1:
            raise ObjectivesError(f"{here}: min_events {min_events!r} must be a whole number ≥ 1")
        rules.append(BurnRule(name, severity, long, short, float(rate), min_events))
    return tuple(rules)
