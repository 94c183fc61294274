"""Deliveries against what is stored (core/ingest/deliveries.py): outcomes after their schedule and only
for scheduled flights; a schedule frozen once its day was served; every decision recorded."""

from datetime import date
from pathlib import Path

import pytest

from core.ingest.contract import LandingFileError
from core.ingest.deliveries import plan_schedule_delivery

DAY = date(2013, 3, 1)
FILES = {DAY: Path("landing/schedule/2013-03-01.csv")}


# --- the rule, called directly ---------------------------------------------------------------

def test_a_first_schedule_is_new_and_the_same_one_again_changes_nothing():
    assert plan_schedule_delivery(FILES, {DAY: "aaa"}, {}, {})[DAY][0] == "new"
    assert plan_schedule_delivery(FILES, {DAY: "aaa"}, {DAY: "aaa"}, {DAY: "served"})[DAY][0] \
        == "identical"


def test_a_changed_schedule_replaces_an_unserved_day_and_says_so():
    decision, reason = plan_schedule_delivery(FILES, {DAY: "bbb"}, {DAY: "aaa"}, {})[DAY]
    assert decision == "replaced" and "sha256 aaa" in reason


def test_a_changed_schedule_of_a_served_day_is_refused_naming_what_was_served():
    served = {DAY: "912 predictions by v1, served at 2013-02-28 23:00 UTC"}
    with pytest.raises(LandingFileError, match="changed after its predictions were served") as error:
        plan_schedule_delivery(FILES, {DAY: "bbb"}, {DAY: "aaa"}, served)
    assert "912 predictions by v1" in str(error.value) and error.value.path == FILES[DAY]


# --- ingest against a real warehouse ---------------------------------------------------------













