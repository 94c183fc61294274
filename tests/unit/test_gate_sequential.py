"""The gate's alpha-spending boundaries (core/gate/sequential.py), against published values and
against simulation: looking again and again spends no more than alpha in all."""

import numpy as np
import pytest

from core.gate.sequential import boundaries, spent


def test_four_equally_spaced_looks_match_the_published_lan_demets_boundaries():
    # Lan-DeMets O'Brien-Fleming-type and Pocock-type spending, one-sided 2.5 %, four looks
    # (Jennison and Turnbull, Group Sequential Methods, table 7.6; rounded there to 2 places).
    assert boundaries((0.25, 0.5, 0.75, 1.0), 0.025, "obrien_fleming") == pytest.approx(
        (4.33, 2.96, 2.36, 2.01), abs=0.01)
    assert boundaries((0.25, 0.5, 0.75, 1.0), 0.025, "pocock") == pytest.approx(
        (2.37, 2.37, 2.36, 2.35), abs=0.015)
    assert boundaries((1.0,), 0.05, "obrien_fleming") == pytest.approx((1.645,), abs=1e-3)


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
def test_the_chance_of_ever_crossing_under_no_difference_is_alpha(spending):
    """Brownian paths with no drift, looked at on irregular days (a first look that saw four
    weeks at once, then weekly): they cross some look's boundary alpha of the time."""
    fractions = np.array([28, 35, 42, 49, 56]) / 56
    limits = np.array(boundaries(tuple(fractions), 0.05, spending))
    rng = np.random.default_rng(0)
    steps = rng.normal(size=(200_000, len(fractions))) * np.sqrt(np.diff(np.r_[0, fractions]))
    z = steps.cumsum(axis=1) / np.sqrt(fractions)
    crossed = (z >= limits).any(axis=1).mean()
    assert crossed == pytest.approx(0.05, abs=0.002)
    # Each look could only spend what the spending function allows by then.
    first = (z[:, 0] >= limits[0]).mean()
    assert first == pytest.approx(spent(spending, 0.05, 0.5), abs=0.002)


def test_fractions_must_increase_and_a_spending_function_must_be_known():
    with pytest.raises(ValueError, match="must increase"):
        boundaries((0.5, 0.5), 0.05, "pocock")
    with pytest.raises(ValueError, match="not a spending function"):
        spent("bonferroni", 0.05, 1.0)
