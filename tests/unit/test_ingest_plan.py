"""What the new-data sensor asks for (core/ingest/plan.py), called directly: one run per day
for the feeds whose files changed, outcomes after their schedule, a day ahead served by the
landing's own runs. The sensor's real ticks are tests/e2e/test_sensors.py."""



from core.ingest.plan import DayToIngest, LandingRun, landing_runs, open_days, plan_ingestion

VALID_DAYS = {"2013-03-01", "2013-03-02", "2013-03-03"}


def plan(seen, found, scheduled=()):
    return plan_ingestion(seen, found, VALID_DAYS, set(scheduled))


def test_one_run_per_day_for_the_feeds_whose_files_changed():
    seen = {"schedule/2013-03-01": "s1", "outcomes/2013-03-01": "o1", "weather/2013-03-01": "w1"}
    found = {**seen, "weather/2013-03-01": "W1",  # weather corrected
             "schedule/2013-03-02": "s2", "outcomes/2013-03-02": "o2"}  # a new day
    result = plan(seen, found, scheduled={"2013-03-01"})
    assert [(d.day, d.datasets) for d in result.days] == [
        ("2013-03-01", ("weather",)), ("2013-03-02", ("outcomes", "schedule"))]
    # The run key names the day and the content: a new correction is a new run, a repeat is not.
    assert result.days[0].run_key == "2013-03-01:weather=W1"
    assert result.seen == found
    assert plan(found, found).days == []


def test_outcomes_wait_for_their_schedule_and_stay_unseen_until_then():
    found = {"outcomes/2013-03-02": "o2"}
    waiting = plan({}, found, scheduled={"2013-03-01"})
    assert waiting.days == [] and waiting.seen == {}
    assert waiting.waiting == ["outcomes/2013-03-02.csv (waiting for the schedule of 2013-03-02)"]
    # Once the schedule is in, the same outcomes file is planned.
    assert [d.datasets for d in plan({}, found, scheduled={"2013-03-02"}).days] == [("outcomes",)]


def test_a_changed_schedule_brings_its_days_outcomes_along():
    seen = {"schedule/2013-03-01": "s1", "outcomes/2013-03-01": "o1"}
    result = plan(seen, {**seen, "schedule/2013-03-01": "S1"}, scheduled={"2013-03-01"})
    assert [d.datasets for d in result.days] == [("outcomes", "schedule")]


def test_files_for_days_outside_the_partitions_are_ignored_and_named():
    result = plan({}, {"schedule/2014-01-01": "x"})
    assert result.days == [] and result.ignored == ["schedule/2014-01-01.csv (no such daily partition)"]


def _day(day, *datasets):
    return DayToIngest(day, datasets, f"{day}:key")


def test_a_day_ahead_is_one_run_that_covers_the_labels_it_reads_from_the_same_landing():
    # The end of Mar 1: its outcomes and weather, and Mar 2's schedule (served a day ahead).
    runs = landing_runs([_day("2013-03-01", "outcomes", "weather"),
                         _day("2013-03-02", "schedule")])
    assert runs == [
        LandingRun("2013-03-01", "2013-03-01", ("outcomes", "weather"), False, "2013-03-01:key"),
        LandingRun("2013-03-01", "2013-03-02", ("schedule",), True, "serve:2013-03-02:key")]
    # A schedule landed alone (nothing of the day before in this landing): that day only.
    assert landing_runs([_day("2013-03-02", "schedule")]) == [
        LandingRun("2013-03-02", "2013-03-02", ("schedule",), True, "serve:2013-03-02:key")]


def test_a_backlog_ingests_each_day_then_serves_the_day_ahead_over_all_of_them():
    days = [_day(f"2013-03-0{n}", "outcomes", "schedule", "weather") for n in (1, 2, 3)]
    runs = landing_runs([*days, _day("2013-03-04", "schedule")])
    # Mar 4's features read the labels of every day of the backlog: one run builds them all.
    assert [(r.first, r.last, r.serves) for r in runs] == [
        ("2013-03-01", "2013-03-01", False), ("2013-03-02", "2013-03-02", False),
        ("2013-03-03", "2013-03-03", False), ("2013-03-01", "2013-03-04", True)]
    # A gap: only the days just before the served one.
    runs = landing_runs([_day("2013-03-01", "outcomes"), _day("2013-03-03", "outcomes"),
                         _day("2013-03-04", "schedule")])
    assert (runs[-1].first, runs[-1].last) == ("2013-03-03", "2013-03-04")


def test_a_day_ahead_also_builds_the_labels_a_failed_serving_run_left_unbuilt():
    # Mar 2's schedule was refused: the run that served it (and built Mar 1's labels) failed.
    # Its corrected file comes with Mar 2's outcomes and Mar 3's schedule.
    days = [_day("2013-03-02", "outcomes", "schedule", "weather"), _day("2013-03-03", "schedule")]
    runs = landing_runs(days, unlabeled_days={"2013-03-01"})
    assert (runs[-1].first, runs[-1].last, runs[-1].serves) == ("2013-03-01", "2013-03-03", True)
    # Only the days just before: an older unlabeled day past a labeled one stays out.
    runs = landing_runs([_day("2013-03-03", "schedule")], unlabeled_days={"2013-03-01"})
    assert (runs[-1].first, runs[-1].last) == ("2013-03-03", "2013-03-03")




def test_outcomes_that_come_after_their_day_ahead_was_served_serve_it_again():
    # A busy queue: Mar 2 was served (its schedule ingested) before Mar 1's outcomes could be;
    # they come alone now. Mar 2 is served again over both days, reading Mar 1's labels.
    runs = landing_runs([_day("2013-03-01", "outcomes")], open_days={"2013-03-02"})
    assert runs == [
        LandingRun("2013-03-01", "2013-03-01", ("outcomes",), False, "2013-03-01:key"),
        LandingRun("2013-03-01", "2013-03-02", ("schedule",), True,
                   "serve:2013-03-02:after:2013-03-01:key")]
    # Mar 2 already flown (not open), or served in this same landing: nothing more.
    assert len(landing_runs([_day("2013-03-01", "outcomes")], open_days=set())) == 1
    assert [r.serves for r in landing_runs(
        [_day("2013-03-01", "outcomes"), _day("2013-03-02", "schedule")],
        open_days={"2013-03-02"})] == [False, True]


def test_open_days_are_scheduled_days_whose_outcomes_have_not_landed():
    found = {"schedule/2013-03-01": "s1", "outcomes/2013-03-01": "o1", "schedule/2013-03-02": "s2"}
    assert open_days({"2013-03-01", "2013-03-02"}, found) == {"2013-03-02"}
