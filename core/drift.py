"""Population stability index (PSI): how far a recent sample has moved from a reference.

PSI = sum over bins of (recent% - reference%) * ln(recent% / reference%). Rule of thumb:
< 0.1 stable, 0.1-0.25 moderate, > 0.25 a real shift.
"""

import numpy as np
import pandas as pd

_EPSILON = 1e-4  # floor for empty bins, so that ln() stays finite


def _psi(reference_share: np.ndarray, recent_share: np.ndarray) -> float:
    reference_share = np.clip(reference_share, _EPSILON, None)
    recent_share = np.clip(recent_share, _EPSILON, None)
    return float(np.sum((recent_share - reference_share) * np.log(recent_share / reference_share)))


def psi_numeric(reference: pd.Series, recent: pd.Series, bins: int = 10) -> float:
    """PSI over bins cut at the reference's quantiles; missing values are a bin of their own."""
    reference, recent = reference.astype("float64"), recent.astype("float64")
    edges = np.unique(np.nanquantile(reference.dropna(), np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: pd.Series) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values.dropna(), side="right"),
                             minlength=len(edges) + 1)
        counts = np.append(counts, values.isna().sum())
        return counts / max(len(values), 1)

    return _psi(shares(reference), shares(recent))


def psi_categorical(reference: pd.Series, recent: pd.Series) -> float:
    """PSI over the levels seen in either sample."""
    levels = sorted(set(reference.dropna().astype(str)) | set(recent.dropna().astype(str)))
    reference_share = reference.astype(str).value_counts(normalize=True).reindex(levels, fill_value=0)
    recent_share = recent.astype(str).value_counts(normalize=True).reindex(levels, fill_value=0)
    return _psi(reference_share.to_numpy(), recent_share.to_numpy())


def psi_table(reference: pd.DataFrame, recent: pd.DataFrame, numeric: list[str],
              categorical: list[str]) -> pd.DataFrame:
    rows = [{"feature": c, "kind": "numeric", "psi": psi_numeric(reference[c], recent[c])}
            for c in numeric]
    rows += [{"feature": c, "kind": "categorical", "psi": psi_categorical(reference[c], recent[c])}
             for c in categorical]
    return pd.DataFrame(rows).sort_values("psi", ascending=False, ignore_index=True)


def drift_verdict(table: pd.DataFrame, realized: float | None, holdout: float | None,
                  spec) -> tuple[bool, str]:
    """Drift when an input's PSI exceeds the spec's threshold, or the realized gate metric is
    worse than the champion's holdout value by more than the spec's decay."""
    drifted = table.loc[table["psi"] > spec.psi_threshold, "feature"].tolist()
    reasons = []
    if drifted:
        reasons.append(f"PSI > {spec.psi_threshold} on {', '.join(drifted)}")
    metric = spec.gate.metric
    if realized is not None and holdout is not None:
        worse_by = holdout - realized if spec.gate.higher_is_better else realized - holdout
        if worse_by > spec.decay:
            reasons.append(f"realized {metric} {realized:.3f} is more than {spec.decay} worse"
                           f" than the champion's holdout {metric} {holdout:.3f}")
    return bool(reasons), "; ".join(reasons) or "no drift beyond the thresholds"
