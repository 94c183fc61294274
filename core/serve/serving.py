"""What may happen to a day's served predictions when the day is scored again.

Served predictions are what people acted on. Scoring a day again:
- writes them when the day has none yet (a backfill of past days serves what would have been
  served: the features are as of the prediction time);
- changes nothing when the scores are the same (the same model on the same inputs);
- replaces them while the day has not happened yet (no label has landed): serving the new
  champion, or a corrected schedule, before the flights;
- keeps them once the day's outcomes have landed, whatever the new scores (decision "frozen",
  with the reason): what was served then is the record that realized performance judges.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class ServingDecision:
    action: str  # write | keep | replace | frozen
    reason: str


def serving_decision(day, served: pd.DataFrame, scored: pd.DataFrame,
                     day_is_labeled: bool) -> ServingDecision:
    """``served`` and ``scored``: flight_id, model_version, prediction of the day, stored and new."""
    if served.empty:
        return ServingDecision("write", "first predictions for the day")
    columns = ["flight_id", "model_version", "prediction"]
    same = (served[columns].sort_values("flight_id", ignore_index=True)
            .equals(scored[columns].sort_values("flight_id", ignore_index=True)))
    if same:
        return ServingDecision("keep", "the same predictions: nothing changes")
    before = ", ".join(sorted(served["model_version"].unique()))
    if day_is_labeled:
        return ServingDecision(
            "frozen", f"{day}: {len(served):,} predictions by {before} were served and the day's"
            f" outcomes have landed; they stand (scoring it again would have changed them:"
            f" {len(scored):,} by {', '.join(sorted(scored['model_version'].unique()))})")
    return ServingDecision(
        "replace", f"re-served before the day: {len(served):,} predictions by {before} replaced")


def serving_decisions(days, served: pd.DataFrame, scored: pd.DataFrame,
                      labeled_days: set) -> dict:
    """serving_decision for each of ``days``; ``served`` and ``scored`` hold all of them (with
    flight_date). Each frame is split by day once: a year's range is 365 days, not 365 scans."""
    served_by_day, scored_by_day = _by_day(served), _by_day(scored)
    return {day: serving_decision(day, served_by_day.get(day, served.iloc[:0]),
                                  scored_by_day.get(day, scored.iloc[:0]), day in labeled_days)
            for day in days}


def _by_day(frame: pd.DataFrame) -> dict:
    return {day: rows for day, rows in frame.groupby(frame["flight_date"].dt.date, sort=False)}
