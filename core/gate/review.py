"""An operator's hand on the loop, free of Dagster: promote or reject a challenger, roll back
to an earlier version, pause or resume automatic promotion. Each action names who and why and
is a row in ml.champion_decisions (core/gate/registry.py); none is taken silently.

- promote: any version that passed its blocking checks (typically one the gate approved);
- reject: a candidate, approved or held version: it never shadows or is promoted again;
- rollback: back to a version that passed its blocking checks; the version rolled back from
  is marked rolled_back and is never promoted automatically again;
- pause / resume: while paused, a challenger that passes the gate waits as approved.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.gate import registry
from core.gate.decision import failed_checks

ACTIONS = ("promote", "reject", "rollback", "pause", "resume")


class ReviewError(ValueError):
    """An operator's request the platform refuses; the message says why."""


@dataclass(frozen=True)
class ReviewOutcome:
    action: str
    champion_before: str | None
    champion_after: str | None
    message: str


def review(con, model_name: str, action: str, version: str | None, who: str,
           why: str) -> ReviewOutcome:
    if action not in ACTIONS:
        raise ReviewError(f"{action!r} is not an action ({', '.join(ACTIONS)})")
    if not who.strip() or not why.strip():
        raise ReviewError("say who you are and why: both are recorded with the decision")
    before = registry.current_champion(con, model_name)
    target = None
    if action in ("promote", "reject", "rollback"):
        target = _target(con, model_name, version, action, before)

    if action in ("promote", "rollback"):
        registry.make_champion(con, target.version,
                               previous_stage="archived" if action == "promote" else "rolled_back")
        message = f"{target.version} is the champion of {model_name}"
    elif action == "reject":
        registry.set_stage(con, target.version, "rejected")
        message = f"{target.version} is rejected: it will not shadow or be promoted"
    else:
        message = (f"automatic promotion of {model_name} is "
                   f"{'paused' if action == 'pause' else 'resumed'}")
    after = registry.current_champion(con, model_name)
    registry.record_decision(
        con, model_name=model_name, action=action,
        challenger=target.version if target else None,
        champion_before=before.version if before else None,
        champion_after=after.version if after else None, reason=why, actor=who,
        details={"operator": True})
    return ReviewOutcome(action, before.version if before else None,
                         after.version if after else None, message)


def _target(con, model_name: str, version: str | None, action: str, champion):
    if not version:
        raise ReviewError(f"{action} needs the version it acts on")
    target = registry.get_model(con, version)
    if target is None or target.model_name != model_name:
        raise ReviewError(f"{version} is not a registered version of {model_name}")
    if champion is not None and target.version == champion.version:
        raise ReviewError(f"{version} is already the champion of {model_name}")
    if action == "reject":
        if target.stage not in registry.WAITING_STAGES:
            raise ReviewError(f"{version} is {target.stage}: only a version waiting for the"
                              f" gate or an operator ({', '.join(registry.WAITING_STAGES)})"
                              " can be rejected")
        return target
    failed = failed_checks(target)
    if failed:
        raise ReviewError(f"{version} did not pass its blocking checks {failed}: it cannot"
                          f" serve")
    if action == "rollback" and champion is None:
        raise ReviewError(f"{model_name} has no champion to roll back from: promote instead")
    return target
