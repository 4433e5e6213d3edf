"""Series definitions: the shipped series, planning a patient's steps, and validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from messenger.domain.catalog import (
    SHIPPED_SERIES_DIR,
    SeriesCatalog,
    definition_files,
    load_definition,
    parse_definition,
)
from messenger.domain.enums import QuietPolicy, StepKind
from messenger.domain.series import PlannedStep, SeriesDefinition, SeriesDefinitionError, plan, plan_step
from messenger.domain.timing import Offset, QuietHours, apply_offset, local_wall
from messenger.domain.wording import Phrase

LA = ZoneInfo("America/Los_Angeles")  # DST 2026: spring forward 03-08, fall back 11-01
SHIPPED_KEY = "ketamine-chronic-pain"
SHIPPED_FILE = SHIPPED_SERIES_DIR / f"{SHIPPED_KEY}.toml"
REMOVE = object()  # a field value meaning "leave the field out"


def la(*args: int) -> datetime:
    return datetime(*args, tzinfo=LA)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def minimal() -> dict[str, Any]:
    """The smallest valid definition: five infusions, a welcome, an eve reminder and a completion."""
    return {
        "key": "mini",
        "title": "Mini series",
        "infusions": {"count": 5, "default_days": [0, 3, 6, 9, 12], "min_span_days": 10, "max_span_days": 14},
        "steps": [
            {"key": "welcome", "kind": "welcome", "template": "welcome", "quiet": "ignore"},
            {
                "key": "reminder",
                "kind": "reminder",
                "template": "reminder/day-before",
                "anchor": "each infusion",
                "offset": "-1d",
                "at": "18:00",
                "not_after": "0s",
            },
            {
                "key": "completion",
                "kind": "completion",
                "template": "completion",
                "anchor": "infusion 5",
                "offset": "3d",
                "at": "12:00",
            },
        ],
    }


def with_steps(*steps: dict[str, Any]) -> SeriesDefinition:
    data = minimal()
    data["steps"] = list(steps)
    return parse_definition(data, "test.toml")


def one_step(**fields: Any) -> SeriesDefinition:
    return with_steps({"key": "step", "kind": "education", "template": "education/x", **fields})


def change_step(key: str, /, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        step = next(s for s in data["steps"] if s.get("key") == key)
        for name, value in fields.items():
            if value is REMOVE:
                del step[name]
            else:
                step[name] = value

    return mutate


def insert_step(index: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["steps"].insert(index, fields)

    return mutate


def change_infusions(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["infusions"].update(fields)

    return mutate


def change_top(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        for name, value in fields.items():
            if value is REMOVE:
                del data[name]
            else:
                data[name] = value

    return mutate


def by_key(planned: list[PlannedStep]) -> dict[str, PlannedStep]:
    return {p.key: p for p in planned}


def wall(instant: datetime) -> datetime:
    return local_wall(instant, LA)


# ---- the shipped series ----------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> SeriesDefinition:
    return SeriesCatalog.load().get(SHIPPED_KEY)


def test_shipped_series_is_in_the_catalog() -> None:
    catalog = SeriesCatalog.load()
    assert SHIPPED_KEY in catalog
    assert catalog.get(SHIPPED_KEY).key == SHIPPED_KEY
    assert SHIPPED_FILE in definition_files()


def test_shipped_series_has_five_infusions_over_ten_to_fourteen_days(shipped: SeriesDefinition) -> None:
    infusions = shipped.infusions
    assert infusions.count == 5
    assert len(infusions.default_days) == 5
    assert infusions.default_days[0] == 0
    assert infusions.default_days == sorted(set(infusions.default_days))
    assert 10 <= infusions.default_days[-1] <= 14
    assert (infusions.min_span_days, infusions.max_span_days) == (10, 14)


def test_shipped_series_paces_its_education(shipped: SeriesDefinition) -> None:
    templates = {s.template for s in shipped.steps if s.kind is StepKind.EDUCATION}
    assert len(templates) >= 8
    assert all(t.startswith("education/") for t in templates)


def test_shipped_series_has_every_expected_step(shipped: SeriesDefinition) -> None:
    kinds = {key: step.kind for key, step, _ in shipped.expanded_steps()}
    for n in range(1, 6):
        assert kinds[f"reminder-eve-{n}"] is StepKind.REMINDER
        assert kinds[f"reminder-day-{n}"] is StepKind.REMINDER
        assert kinds[f"checkin-{n}"] is StepKind.CHECKIN
    assert kinds["checkin-final"] is StepKind.CHECKIN
    assert list(kinds.values()).count(StepKind.WELCOME) == 1
    assert list(kinds.values()).count(StepKind.COMPLETION) == 1


# A patient in Los Angeles, enrolled on Sunday afternoon, first infusion on Tuesday morning.
ENROLLED = la(2026, 11, 29, 15, 0)
FIRST = la(2026, 12, 1, 10, 0)
INFUSION_DATES = [date(2026, 12, d) for d in (1, 4, 7, 10, 13)]


@pytest.fixture(scope="module")
def infusions(shipped: SeriesDefinition) -> list[datetime]:
    return shipped.default_infusion_times(FIRST, LA)


@pytest.fixture(scope="module")
def planned(shipped: SeriesDefinition, infusions: list[datetime]) -> list[PlannedStep]:
    return plan(shipped, enrolled_at=ENROLLED, infusions=infusions, zone=LA, quiet_hours=QuietHours())


def test_default_infusions_are_at_the_first_ones_local_time(infusions: list[datetime]) -> None:
    assert [wall(t) for t in infusions] == [datetime.combine(d, time(10)) for d in INFUSION_DATES]


def test_plan_has_every_step_once_in_send_order(shipped: SeriesDefinition, planned: list[PlannedStep]) -> None:
    assert [p.send_at for p in planned] == sorted(p.send_at for p in planned)
    assert sorted(p.key for p in planned) == sorted(key for key, _, _ in shipped.expanded_steps())
    assert len(planned) == 29


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5], ids=lambda n: f"infusion-{n}")
def test_reminders_before_each_infusion(planned: list[PlannedStep], infusions: list[datetime], number: int) -> None:
    steps = by_key(planned)
    eve, day = steps[f"reminder-eve-{number}"], steps[f"reminder-day-{number}"]
    infusion_day = INFUSION_DATES[number - 1]
    assert wall(eve.send_at) == datetime.combine(infusion_day - timedelta(days=1), time(18))
    assert wall(day.send_at) == datetime.combine(infusion_day, time(8))
    assert day.not_after == infusions[number - 1]
    # "Tomorrow: …" is stale once the infusion's day has begun, whatever delayed it.
    assert wall(eve.not_after) == datetime.combine(infusion_day, time(0))  # type: ignore[arg-type]
    assert eve.infusion_number == day.infusion_number == number


def test_eve_reminder_for_the_second_infusion(planned: list[PlannedStep]) -> None:
    # Infusion 2 is Fri 2026-12-04 10:00 PST; the reminder is Thu 18:00 PST.
    assert by_key(planned)["reminder-eve-2"].send_at == utc(2026, 12, 4, 2, 0)


def test_a_checkin_follows_each_infusion(planned: list[PlannedStep], infusions: list[datetime]) -> None:
    steps = by_key(planned)
    for number, (infusion, following) in enumerate(zip(infusions, [*infusions[1:], None], strict=True), start=1):
        checkin = steps[f"checkin-{number}"]
        assert infusion < checkin.send_at
        assert following is None or checkin.send_at < following
    assert steps["checkin-final"].send_at > steps["checkin-5"].send_at


def test_education_is_never_sent_in_quiet_hours(planned: list[PlannedStep]) -> None:
    education = [p for p in planned if p.kind is StepKind.EDUCATION]
    assert len(education) >= 8
    for step in education:
        assert not QuietHours().contains(wall(step.send_at).time()), step.key


def test_welcome_first_and_completion_last(planned: list[PlannedStep]) -> None:
    assert planned[0].key == "welcome"
    assert planned[0].send_at == ENROLLED
    assert planned[-1].kind is StepKind.COMPLETION
    assert wall(planned[-1].send_at) == datetime(2026, 12, 16, 12, 0)


def test_late_enrolment_defers_education_but_not_the_welcome(
    shipped: SeriesDefinition, infusions: list[datetime]
) -> None:
    enrolled = la(2026, 11, 29, 20, 30)
    planned = plan(shipped, enrolled_at=enrolled, infusions=infusions, zone=LA, quiet_hours=QuietHours())
    steps = by_key(planned)
    assert steps["welcome"].send_at == enrolled
    first_lesson = steps["edu-what-is-chronic-pain"]
    assert wall(first_lesson.due_at) == datetime(2026, 11, 29, 22, 30)
    assert wall(first_lesson.send_at) == datetime(2026, 11, 30, 8, 0)


def test_reminders_keep_local_time_when_the_course_crosses_dst(shipped: SeriesDefinition) -> None:
    # Infusions 10-28, 10-31, 11-03, 11-06, 11-09: the clocks go back on Sunday 11-01.
    infusions = shipped.default_infusion_times(la(2026, 10, 28, 10, 0), LA)
    steps = by_key(
        plan(shipped, enrolled_at=la(2026, 10, 26, 15, 0), infusions=infusions, zone=LA, quiet_hours=QuietHours())
    )
    dates = [date(2026, 10, 28), date(2026, 10, 31), date(2026, 11, 3), date(2026, 11, 6), date(2026, 11, 9)]
    one_day = timedelta(days=1)
    for number, day in enumerate(dates, start=1):
        assert wall(steps[f"reminder-eve-{number}"].send_at) == datetime.combine(day - one_day, time(18))
        assert wall(steps[f"reminder-day-{number}"].send_at) == datetime.combine(day, time(8))
        assert wall(steps[f"checkin-{number}"].send_at) == datetime.combine(day + one_day, time(11))
    # The same local time is a different UTC hour on either side of the change.
    assert steps["reminder-eve-2"].send_at == utc(2026, 10, 31, 1, 0)  # 10-30 18:00 PDT
    assert steps["reminder-eve-3"].send_at == utc(2026, 11, 3, 2, 0)  # 11-02 18:00 PST


def test_default_infusion_times_keep_local_time_across_dst(shipped: SeriesDefinition) -> None:
    times = shipped.default_infusion_times(la(2026, 10, 28, 10, 0), LA)
    assert times == [
        utc(2026, 10, 28, 17, 0),  # PDT
        utc(2026, 10, 31, 17, 0),
        utc(2026, 11, 3, 18, 0),  # PST
        utc(2026, 11, 6, 18, 0),
        utc(2026, 11, 9, 18, 0),
    ]
    assert all(t.tzinfo is UTC for t in times)


# ---- planning single steps -------------------------------------------------------------


@pytest.mark.parametrize(
    ("quiet", "send_wall"),
    [
        pytest.param("defer", datetime(2026, 12, 2, 8, 0), id="defer-to-morning"),
        pytest.param("ignore", datetime(2026, 12, 1, 22, 0), id="ignore-sends-at-night"),
    ],
)
def test_quiet_policy(quiet: str, send_wall: datetime) -> None:
    definition = one_step(anchor="enrolment", offset="0d", at="22:00", quiet=quiet)
    (step,) = plan(definition, enrolled_at=la(2026, 12, 1, 15, 0), infusions=[], zone=LA, quiet_hours=QuietHours())
    assert step.quiet is QuietPolicy(quiet)
    assert wall(step.due_at) == datetime(2026, 12, 1, 22, 0)
    assert wall(step.send_at) == send_wall


def test_each_infusion_step_is_planned_once_per_infusion(infusions: list[datetime]) -> None:
    definition = one_step(anchor="each infusion", offset="2h")
    planned = plan(definition, enrolled_at=ENROLLED, infusions=infusions, zone=LA, quiet_hours=QuietHours())
    assert [(p.key, p.infusion_number, p.send_at) for p in planned] == [
        (f"step-{n}", n, infusion + timedelta(hours=2)) for n, infusion in enumerate(infusions, start=1)
    ]


# Infusions around the spring-forward change (Sunday 2026-03-08).
SPRING_ENROLLED = la(2026, 3, 6, 10, 0)
SPRING_INFUSIONS = [la(2026, 3, d, 10) for d in (7, 10, 13, 16, 19)]


@pytest.mark.parametrize(
    ("fields", "infusion", "due", "not_after"),
    [
        pytest.param(
            {"anchor": "infusion 1", "offset": "-1d", "at": "18:00", "not_after": "0s"},
            1,
            la(2026, 3, 6, 18, 0),
            SPRING_INFUSIONS[0],
            id="eve-reminder-expires-at-the-infusion",
        ),
        pytest.param(
            {"anchor": "enrolment", "offset": "2h", "not_after": "3d"},
            None,
            la(2026, 3, 6, 12, 0),
            la(2026, 3, 9, 10, 0),  # three local days: 71 h
            id="local-days-across-dst",
        ),
        pytest.param(
            {"anchor": "infusion 3", "offset": "1d", "at": "12:00", "not_after": "1d3h"},
            3,
            la(2026, 3, 14, 12, 0),
            la(2026, 3, 14, 13, 0),
            id="days-and-hours",
        ),
        pytest.param(
            {"anchor": "infusion 2", "offset": "1d", "at": "12:00"},
            2,
            la(2026, 3, 11, 12, 0),
            None,
            id="no-deadline",
        ),
    ],
)
def test_plan_step_not_after_is_anchor_plus_offset(
    fields: dict[str, str], infusion: int | None, due: datetime, not_after: datetime | None
) -> None:
    step = one_step(**fields).steps[0]
    planned = plan_step(
        step,
        key="step",
        infusion=infusion,
        enrolled_at=SPRING_ENROLLED,
        infusions=SPRING_INFUSIONS,
        zone=LA,
        quiet_hours=QuietHours(),
    )
    assert planned.due_at == due
    assert planned.not_after == not_after
    assert planned.infusion_number == infusion


# ---- course_problem --------------------------------------------------------------------


def course(*days: int, first: datetime = FIRST) -> list[datetime]:
    return [apply_offset(first, Offset(days=d), LA) for d in days]


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        pytest.param(course(0, 3, 6, 9), Phrase("course.count", {"expected": 5, "given": 4}), id="too-few"),
        pytest.param(course(0, 3, 6, 9, 12, 13), Phrase("course.count", {"expected": 5, "given": 6}), id="too-many"),
        pytest.param(course(0, 6, 3, 9, 12), Phrase("course.order"), id="out-of-order"),
        pytest.param(course(0, 3, 3, 9, 12), Phrase("course.order"), id="two-at-once"),
        pytest.param(course(0, 3, 6, 9, 15), Phrase("course.span", {"days": 15, "max_days": 14}), id="too-long"),
        pytest.param(
            [*course(0, 3, 6, 9), FIRST + timedelta(days=14, minutes=1)],
            Phrase("course.span", {"days": 14, "max_days": 14}),
            id="a-minute-too-long",
        ),
    ],
)
def test_course_problem(shipped: SeriesDefinition, times: list[datetime], expected: Phrase) -> None:
    assert shipped.course_problem(times, LA) == expected


@pytest.mark.parametrize(
    "times",
    [
        pytest.param(course(0, 3, 6, 9, 12), id="default"),
        pytest.param(course(0, 2, 5, 7, 10), id="ten-days"),
        pytest.param(course(0, 3, 6, 9, 14), id="fourteen-days"),
        pytest.param(course(0, 3, 6, 9, 14, first=la(2026, 10, 25, 10, 0)), id="fourteen-local-days-across-fall-back"),
    ],
)
def test_valid_course(shipped: SeriesDefinition, times: list[datetime]) -> None:
    assert shipped.course_problem(times, LA) is None


# ---- validation ------------------------------------------------------------------------


def test_minimal_definition_is_valid() -> None:
    definition = parse_definition(minimal(), "test.toml")
    assert [key for key, _, _ in definition.expanded_steps()] == [
        "welcome",
        "reminder-1",
        "reminder-2",
        "reminder-3",
        "reminder-4",
        "reminder-5",
        "completion",
    ]


@pytest.mark.parametrize(
    ("mutate", "step", "words"),
    [
        pytest.param(
            change_step("welcome", anchor="the weekend"), "welcome", ["anchor", "the weekend"], id="unknown-anchor"
        ),
        pytest.param(
            change_step("completion", anchor="infusion 7"),
            "completion",
            ["infusion 7 of 5"],
            id="anchor-past-last-infusion",
        ),
        pytest.param(
            insert_step(3, key="welcome", kind="welcome", template="welcome"),
            "welcome",
            ["duplicate", "'welcome'"],
            id="duplicate-key",
        ),
        pytest.param(
            insert_step(1, key="reminder-2", kind="reminder", template="reminder/same-day", anchor="infusion 2"),
            "reminder",
            ["duplicate", "'reminder-2'"],
            id="expanded-key-collides",
        ),
        pytest.param(
            change_step("completion", offset="soon"), "completion", ["offset", "bad offset", "soon"], id="bad-offset"
        ),
        pytest.param(
            change_step("completion", not_after="3 days"), "completion", ["not_after", "bad offset"], id="bad-not-after"
        ),
        pytest.param(change_step("reminder", offset="-1d2h"), "reminder", ["whole days"], id="at-with-hours"),
        pytest.param(
            change_step("completion", at=REMOVE, not_after="2d"),
            "completion",
            ["not_after 2d", "before", "3d"],
            id="not-after-before-offset",
        ),
        pytest.param(change_step("completion", at="25:00"), "completion", ["at:", "time"], id="bad-time-of-day"),
        pytest.param(change_step("welcome", kind="sms-blast"), "welcome", ["kind", "should be"], id="unknown-kind"),
        pytest.param(change_step("welcome", quiet="later"), "welcome", ["quiet"], id="unknown-quiet-policy"),
        pytest.param(change_step("welcome", colour="blue"), "welcome", ["colour", "extra"], id="unknown-field"),
        pytest.param(change_step("welcome", key="Welcome!"), "Welcome!", ["lower-case"], id="bad-key"),
        pytest.param(change_step("completion", key=REMOVE), "#3", ["key", "required"], id="missing-key"),
        pytest.param(
            change_step("welcome", template=REMOVE), "welcome", ["template", "required"], id="missing-template"
        ),
        pytest.param(
            change_infusions(default_days=[0, 3, 6]),
            None,
            ["default_days", "3 days for 5 infusions"],
            id="default-days-count",
        ),
        pytest.param(
            change_infusions(default_days=[1, 3, 6, 9, 12]), None, ["start at 0"], id="default-days-not-from-zero"
        ),
        pytest.param(
            change_infusions(default_days=[0, 6, 3, 9, 12]), None, ["increase"], id="default-days-not-increasing"
        ),
        pytest.param(
            change_infusions(default_days=[0, 3, 6, 9, 20]), None, ["fit", "max_span_days"], id="default-days-too-long"
        ),
        pytest.param(
            change_infusions(default_days=[0, 1, 2, 3, 4]), None, ["fit", "min_span_days"], id="default-days-too-short"
        ),
        pytest.param(change_top(title=REMOVE), None, ["title", "required"], id="missing-title"),
        pytest.param(change_top(colour="blue"), None, ["colour", "extra"], id="unknown-top-level-field"),
        pytest.param(
            change_step("completion", anchor="infusion 0"), "completion", ["infusion 0"], id="anchor-infusion-zero"
        ),
        pytest.param(
            change_step("completion", not_after="0s"), "completion", ["not_after"], id="not-after-before-offset-with-at"
        ),
        pytest.param(
            change_top(steps=[minimal()["steps"][0], "reminder"]), "#2", ["dictionary"], id="step-not-a-table"
        ),
    ],
)
def test_broken_definition_is_named(
    mutate: Callable[[dict[str, Any]], None], step: str | None, words: list[str]
) -> None:
    data = minimal()
    mutate(data)
    with pytest.raises(SeriesDefinitionError) as caught:
        parse_definition(data, "test.toml")
    error = caught.value
    message = str(error)
    assert message.startswith("test.toml: ")
    assert error.source == "test.toml"
    assert error.step == step
    if step is not None:
        assert f"step {step!r}" in message
    for word in words:
        assert word.lower() in message.lower()


# ---- files -----------------------------------------------------------------------------


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('key = "broken"\ntitle = \n', encoding="utf-8")
    with pytest.raises(SeriesDefinitionError) as caught:
        load_definition(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "not valid TOML" in str(caught.value)
    assert "line 2" in str(caught.value)
    assert caught.value.step is None


def test_invalid_file_names_the_file_and_the_step(tmp_path: Path) -> None:
    path = tmp_path / "edited.toml"
    shipped_text = SHIPPED_FILE.read_text(encoding="utf-8")
    path.write_text(shipped_text.replace('offset = "-1d"', 'offset = "-1 day"', 1), encoding="utf-8")
    with pytest.raises(SeriesDefinitionError) as caught:
        load_definition(path)
    assert str(caught.value).startswith(f"{path}: step 'edu-imaging': ")
    assert "bad offset '-1 day'" in str(caught.value)


def test_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('key = "x"\ntitle = "Café"\n'.encode("latin-1"))
    with pytest.raises(SeriesDefinitionError) as caught:
        load_definition(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_catalog_extra_dir_adds_and_replaces_definitions(tmp_path: Path) -> None:
    shipped_text = SHIPPED_FILE.read_text(encoding="utf-8")
    (tmp_path / "clinic.toml").write_text(
        shipped_text.replace('title = "Ketamine infusions for chronic pain"', 'title = "Our own wording"'),
        encoding="utf-8",
    )
    (tmp_path / "other.toml").write_text(
        shipped_text.replace(f'key = "{SHIPPED_KEY}"', 'key = "other"'), encoding="utf-8"
    )
    catalog = SeriesCatalog.load(tmp_path)
    assert {"other", SHIPPED_KEY} <= {d.key for d in catalog}
    assert catalog.get(SHIPPED_KEY).title == "Our own wording"


def test_catalog_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown series 'nope'") as caught:
        SeriesCatalog.load().get("nope")
    assert "known:" in str(caught.value)
    assert SHIPPED_KEY in str(caught.value)
