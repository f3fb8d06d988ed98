"""Programs' rules: required fields, template versions and their acknowledgment, the fidelity gate
on intensifying, exit criteria, risk-list screening and roles."""

from dataclasses import replace
from datetime import date, timedelta

import pytest

from services.mtss.domain import analysis as an
from services.mtss.domain import programs as p
from services.mtss.domain.schedule import Schedule
from services.runtime.errors import FailedPrecondition, PermissionDenied, Violations
from services.runtime.request_context import Principal

RG1, RG2 = p.BUILTIN_TEMPLATES[0], p.BUILTIN_TEMPLATES[1]
START = date(2026, 9, 7)


def _intervention(**kw) -> p.Intervention:
    base = p.Intervention(
        id="i",
        tenant_id="t",
        code="RG-1",
        name="Reading",
        objectives=RG1.objectives,
        target_population="",
        owner_id="o",
        facilitator_ids=("f",),
        room="101",
        goal=p.GoalSpec(RG1.measure, 20, 50, START + timedelta(weeks=10)),
        minutes_per_week=RG1.minutes_per_week,
        begin_date=START,
        end_date=START + timedelta(weeks=12),
        schedule=Schedule(RG1.rrule, RG1.start_time, 30, "America/New_York"),
        template_key=RG1.key,
        template_version=1,
        intervention_class=RG1.intervention_class,
        delivery_method=RG1.delivery_method,
        exit=RG1.exit,
    )
    return replace(base, **kw)


def test_missing_objective_owner_and_schedule_are_each_named():
    v = Violations()
    new = p.NewIntervention(
        "reading-group",
        1,
        name="x",
        begin_date=START,
        end_date=START + timedelta(weeks=4),
        goal=p.GoalSpec("wcpm", 1, 2, START + timedelta(weeks=4)),
    )
    p.check_new(v, new, RG1)
    fields = {i.field for i in v.items}
    assert {"intervention.objectives", "intervention.owner_id", "intervention.schedule"} <= fields


def test_dates_outside_1900_to_2999_are_named_before_any_expansion():
    v = Violations()
    new = p.NewIntervention(
        "reading-group",
        1,
        name="x",
        objectives=("read",),
        owner_id="o",
        begin_date=date(1, 1, 1),
        end_date=date(1, 2, 1),
        goal=p.GoalSpec("wcpm", 1, 2, date(1, 1, 20)),
        schedule=Schedule("FREQ=WEEKLY;BYDAY=MO", RG1.start_time, 30, "Asia/Tokyo"),
    )
    p.check_new(v, new, RG1)
    assert {i.field for i in v.items} == {
        "intervention.begin_date",
        "intervention.end_date",
        "intervention.goal.goal_date",
    }


def test_a_newer_template_applies_only_with_exactly_its_changes_acknowledged():
    current = _intervention()
    changes = p.template_changes(current, RG2)
    assert changes == ["exit", "minutes_per_week", "objectives"]
    with pytest.raises(FailedPrecondition) as err:
        p.reapply(current, RG2, {"objectives"})
    assert err.value.metadata["changes"] == "exit,minutes_per_week,objectives"
    updated = p.reapply(current, RG2, set(changes))
    assert (updated.template_version, updated.minutes_per_week, updated.objectives) == (
        2,
        120,
        RG2.objectives,
    )
    with pytest.raises(FailedPrecondition):
        p.reapply(updated, RG1, set())  # not newer


def _analysis(verdict: str) -> an.Analysis:
    return an.Analysis(verdict, ("r",), 8, 6, 3.0, None, None, "below", "flatter", None, None, ())


def test_intensifying_is_held_back_while_dosage_is_below_the_plan():
    low = p.Dosage(planned_minutes=600, delivered_minutes=300, sessions_held=20, sessions_attended=10)
    held = p.decide(_analysis(an.CHANGE), low, [22, 25], 50, True, 6, p.ExitCriteria())
    assert held.recommendation == "check_fidelity" and any("300 of 600" in r for r in held.reasons)
    full = p.Dosage(planned_minutes=600, delivered_minutes=540, sessions_held=20, sessions_attended=18)
    assert (
        p.decide(_analysis(an.CHANGE), full, [22], 50, True, 6, p.ExitCriteria()).recommendation == an.CHANGE
    )


def test_exit_is_recommended_once_the_criteria_are_met():
    d = p.Dosage(600, 600, 20, 20)
    criteria = p.ExitCriteria(points_at_goal=3, min_weeks=6)
    assert p.decide(_analysis(an.RAISE), d, [40, 50, 51, 55], 50, True, 7, criteria).exit_recommended
    early = p.decide(_analysis(an.RAISE), d, [40, 50, 51, 55], 50, True, 4, criteria)
    assert not early.exit_recommended and any("4.0 of the 6 weeks" in r for r in early.reasons)
    assert not p.decide(_analysis(an.RAISE), d, [50, 49, 55], 50, True, 7, criteria).exit_recommended


def test_a_risk_list_is_parsed_and_screened_with_reasons():
    v = Violations()
    entries = p.parse_risk_csv(v, "student_id,risk,reason\na,0.9,struggling\nb,0.4,\nc,0.8,\nd,x,\n", "csv")
    assert [i.description for i in v.items] == ["line 5: risk must be a number between 0 and 1"]
    got = p.screen(entries, 0.5, enrolled={"c"}, known={"a", "b", "c"})
    assert [(c.student_id, c.eligible) for c in got] == [("a", True), ("c", False), ("b", False)]
    assert "struggling" in got[0].reason and got[1].reason == "already enrolled"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("student_id,risk\ra,0.9\r", "line 1: a line ends with a lone carriage return"),
        ("student_id,risk\na,0.9\nb,0." + "9" * 131_072 + "\n", "line 3: a value is longer than 131072"),
    ],
)
def test_text_that_is_not_csv_is_one_violation_on_the_field(text, words):
    v = Violations()
    assert p.parse_risk_csv(v, text, "csv") == []
    assert [(i.field, i.description[: len(words)]) for i in v.items] == [("csv", words)]


def test_the_most_at_risk_are_taken_first_up_to_max_students_and_a_repeated_student_once():
    entries = [
        p.RiskEntry("a", 0.9),
        p.RiskEntry("b", 0.7),
        p.RiskEntry("c", 0.8),
        p.RiskEntry("a", 0.3),  # listed twice: counted once, at the higher risk
        p.RiskEntry("d", 0.2),
        p.RiskEntry("e", 0.95),  # not a student here: never takes a place
    ]
    got = p.screen(entries, 0.5, enrolled=set(), known={"a", "b", "c", "d"}, max_students=2)
    assert [(c.student_id, c.eligible, c.risk) for c in got] == [
        ("e", False, 0.95),
        ("a", True, 0.9),
        ("c", True, 0.8),
        ("b", False, 0.7),
        ("d", False, 0.2),
    ]
    assert "beyond the 2 highest risks" in got[3].reason and "below the criterion" in got[4].reason
    unlimited = p.screen(entries, 0.5, enrolled=set(), known={"a", "b", "c", "d"})
    assert [c.student_id for c in unlimited if c.eligible] == ["a", "c", "b"]


def test_facilitators_act_on_their_own_sessions_only():
    i = _intervention()
    mine = p.Session("s", "i", None, None, START, "101", "f")  # type: ignore[arg-type]
    theirs = replace(mine, facilitator_id="g")
    p.may_facilitate(Principal("f", "t", frozenset({"facilitator"})), i, mine)
    with pytest.raises(PermissionDenied):
        p.may_facilitate(Principal("f", "t", frozenset({"facilitator"})), i, theirs)
    p.may_facilitate(Principal("x", "t", frozenset({"teacher"})), i, theirs)
    with pytest.raises(PermissionDenied):
        p.may_manage(Principal("f", "t", frozenset({"facilitator"})))
