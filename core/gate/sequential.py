"""Looking at evidence again and again without fooling oneself: group-sequential boundaries from
an alpha-spending function (Lan and DeMets). Free of Dagster.

A gate that looks at a challenger each time more labels mature gives chance a new try at every
look: at a fixed one-sided 5 % per look, four looks promote about 13 % of challengers that are
no better. Spending fixes the total: by the information fraction t (days seen / the horizon's
days) at most alpha(t) of the error may have been spent, and each look's boundary (a z value)
is set so that the chance of crossing at this look, having not crossed at the looks before, is
what the spending function allows now. Looks may come at any fractions, as many as there are:
the boundary depends only on the fractions of the looks actually taken.

- O'Brien-Fleming-like spending, alpha(t) = 2 - 2 Phi(z_(1 - alpha/2) / sqrt(t)): strict
  early, close to a single test at the end;
- Pocock-like spending, alpha(t) = alpha ln(1 + (e - 1) t): the same boundary at every look,
  earlier decisions, a stricter last one.

Boundaries are computed by numerical integration of the Brownian motion the z statistics
follow (Armitage, McPherson and Rowe): exact up to the grid, the same every time.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.stats import norm

SPENDING = ("obrien_fleming", "pocock")
_GRID_STEP = 0.02  # on the standard deviations of the first look's score
_TAIL = 8.0  # the grid reaches this many standard deviations below zero


def spent(spending: str, alpha: float, fraction: float) -> float:
    """How much of the one-sided error rate ``alpha`` may be spent by information fraction
    ``fraction`` (0 < fraction <= 1)."""
    t = min(max(fraction, 1e-9), 1.0)
    if spending == "obrien_fleming":
        return float(2 - 2 * norm.cdf(norm.ppf(1 - alpha / 2) / math.sqrt(t)))
    if spending == "pocock":
        return float(alpha * math.log(1 + (math.e - 1) * t))
    raise ValueError(f"{spending!r} is not a spending function ({', '.join(SPENDING)})")


def boundaries(fractions: tuple[float, ...], alpha: float, spending: str) -> tuple[float, ...]:
    """The z boundary of each look at these increasing information fractions: crossing it at a
    look (not having crossed before) rejects 'no better' with total error at most ``alpha``."""
    return _boundaries(tuple(round(min(f, 1.0), 6) for f in fractions), alpha, spending)


@lru_cache(maxsize=256)
def _boundaries(fractions: tuple[float, ...], alpha: float, spending: str) -> tuple[float, ...]:
    if any(b <= a for a, b in zip(fractions, fractions[1:], strict=False)):
        raise ValueError(f"information fractions must increase: {fractions}")
    result: list[float] = []
    grid = density = None  # the score S(t) = Z sqrt(t) on the continuation region, and its density
    previous_t, previous_spent = 0.0, 0.0
    for t in fractions:
        allowed = spent(spending, alpha, t) - previous_spent
        if grid is None:
            z = float(norm.isf(max(allowed, 1e-15)))
            step = _GRID_STEP * math.sqrt(t)
            grid = np.arange(-_TAIL * math.sqrt(t), z * math.sqrt(t), step)
            density = norm.pdf(grid, scale=math.sqrt(t)) * step
        else:
            sd = math.sqrt(t - previous_t)
            z = _solve(lambda z_value, t=t, grid=grid, density=density, sd=sd: float(np.sum(
                density * norm.sf((z_value * math.sqrt(t) - grid) / sd))), max(allowed, 1e-15))
            step = _GRID_STEP * math.sqrt(t)
            new_grid = np.arange(-_TAIL * math.sqrt(t), z * math.sqrt(t), step)
            # the density of S(t) below the boundary: the previous density moved by a step
            density = (norm.pdf((new_grid[:, None] - grid[None, :]) / sd) / sd
                       @ density) * step
            grid = new_grid
        result.append(z)
        previous_t, previous_spent = t, spent(spending, alpha, t)
    return tuple(result)


def _solve(crossing, target: float) -> float:
    """The z whose crossing probability is ``target`` (crossing decreases in z)."""
    low, high = -2.0, 12.0
    for _ in range(80):
        middle = (low + high) / 2
        if crossing(middle) > target:
            low = middle
        else:
            high = middle
    return (low + high) / 2
