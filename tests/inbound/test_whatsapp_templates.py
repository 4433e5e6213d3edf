"""WhatsApp outside its 24-hour window: a step's approved template (ContentSid + ContentVariables) goes
instead of free text; inside the window, free text; a 63016 refusal falls back to the template once."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from messenger.channels.catalogue import shipped_capabilities
from messenger.domain.catalog import SeriesCatalog, load_definition
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.series import SeriesDefinitionError
from messenger.rendering.check import check_templates
from messenger.rendering.context import Clinic
from messenger.rendering.environment import TemplateEnvironment
from tests.factories import enrol_patient, messages_of, run_until
from tests.inbound.support import (
    PATIENT_PHONE,
    WHATSAPP_FROM,
    inbound_settings,
    inbound_url,
    running_app,
    twiml_reply,
)

REMINDER_SID = "HX" + "a1" * 16
NOTE_SID = "HX" + "b2" * 16
SERIES = f'''
key = "whatsapp-test"
title = "WhatsApp test series"

[infusions]
count = 2
default_days = [0, 3]
min_span_days = 0
max_span_days = 14

[vars]
bring = "a photo ID"
arrange = "a ride home"
before = "follow the clinic's instructions"

[[steps]]
key = "welcome"
kind = "welcome"
template = "welcome"
quiet = "ignore"

[[steps]]
key = "edu"
kind = "education"
template = "education/imaging"
offset = "1h"
quiet = "ignore"

[steps.whatsapp.en]
content_sid = "{NOTE_SID}"
variables = {{ 1 = "patient.first_name", 2 = "note_link" }}

[[steps]]
key = "reminder-eve"
kind = "reminder"
template = "reminder/day-before"
anchor = "each infusion"
offset = "-1d"
at = "18:00"
quiet = "ignore"
not_after = "0s"

[steps.whatsapp.en]
content_sid = "{REMINDER_SID}"
variables = {{ 1 = "patient.first_name", 2 = "infusion.number", 3 = "infusion.date", 4 = "infusion.time" }}
'''


@pytest.fixture
def series_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "series"
    folder.mkdir()
    (folder / "whatsapp-test.toml").write_text(SERIES, encoding="utf-8")
    return folder


@pytest.fixture
def settings(database_url, twilio, series_dir):  # type: ignore[no-untyped-def]
    twilio.add_content(REMINDER_SID, "Hi {{1}}, visit {{2}} is on {{3}} at {{4}}. Reply to this message to talk to us.")
    twilio.add_content(NOTE_SID, "Hi {{1}}, your care team sent you a note: {{2}}")
    return inbound_settings(
        database_url,
        twilio=twilio,
        public=True,
        signing_secret="note-links-are-signed-with-this-secret-0123456789",
        series_dir=series_dir,
        default_series="whatsapp-test",
    )


async def _reminder(app, twilio, series_id: int):  # type: ignore[no-untyped-def]
    """Run the series to the first day-before reminder; its outbox row and what Twilio received for it."""
    row = (await messages_of(app, series_id))["reminder-eve-1"]
    await run_until(app, row.send_at)
    row = (await messages_of(app, series_id))["reminder-eve-1"]
    assert row.status is MessageStatus.SENT, (row.status, row.last_error)
    [sent] = [m for m in twilio.messages if m.sid == row.provider_id]
    return row, sent


async def _patient_who_wrote(app, twilio):  # type: ignore[no-untyped-def]
    """A WhatsApp patient who writes two hours before the first day-before reminder (the window opens)."""
    series = await enrol_patient(app, contacts=[(ChannelName.WHATSAPP, PATIENT_PHONE)])
    row = (await messages_of(app, series.id))["reminder-eve-1"]
    await run_until(app, row.send_at - timedelta(hours=2))
    reply = await twilio.send_inbound(
        inbound_url(app), f"whatsapp:{PATIENT_PHONE}", "Thanks, see you then", to=f"whatsapp:{WHATSAPP_FROM}"
    )
    return series, reply


async def test_outside_the_window_the_reminder_goes_as_its_template(settings, clock, twilio):
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.WHATSAPP, PATIENT_PHONE)])
        _row, sent = await _reminder(app, twilio, series.id)
        note = next(m for m in twilio.messages if m.content_sid == NOTE_SID)
        welcome = twilio.messages[0]

    # The patient never wrote: only approved templates can reach them.
    assert sent.to == f"whatsapp:{PATIENT_PHONE}" and sent.from_ == f"whatsapp:{WHATSAPP_FROM}"
    assert sent.content_sid == REMINDER_SID
    assert sent.content_variables == {"1": "Jane", "2": "1", "3": "Wednesday 2 December", "4": "10:00"}
    assert sent.body == "Hi Jane, visit 1 is on Wednesday 2 December at 10:00. Reply to this message to talk to us."
    form = next(r.form for r in twilio.requests if r.form.get("ContentSid") == REMINDER_SID)
    assert "Body" not in form
    # The note's template carries the link to the note's page.
    assert note.content_variables["1"] == "Jane"
    assert note.content_variables["2"].startswith(f"{settings.public_url}/n/")
    # A step without a template still goes as free text (and the provider decides).
    assert welcome.content_sid is None and welcome.body.startswith("Hi Jane")


async def test_inside_the_window_the_reminder_goes_as_text(settings, clock, twilio):
    async with running_app(settings, clock) as app:
        series, reply = await _patient_who_wrote(app, twilio)
        _row, sent = await _reminder(app, twilio, series.id)

    assert twiml_reply(reply) is not None  # the message was taken (and the window opened)
    assert sent.content_sid is None
    assert sent.body.startswith("Tomorrow: infusion 1 of 2\nWednesday 2 December at 10:00")


async def test_free_text_refused_with_63016_goes_again_as_the_template(settings, clock, twilio):
    async with running_app(settings, clock) as app:
        series, _reply = await _patient_who_wrote(app, twilio)
        twilio.close_window(PATIENT_PHONE)  # Twilio's view of the window differs from ours
        before = len(twilio.requests)
        row, sent = await _reminder(app, twilio, series.id)
        attempts = [(r.status, "ContentSid" in r.form) for r in twilio.requests[before:]]

    assert attempts == [(400, False), (201, True)]  # free text refused, the template once, nothing more
    assert sent.content_sid == REMINDER_SID and sent.content_variables["1"] == "Jane"
    assert row.attempts == 1


async def test_63016_reported_by_status_callback_sends_the_template_once(settings, clock, twilio):
    async with running_app(settings, clock) as app:
        series, _reply = await _patient_who_wrote(app, twilio)
        _row, text = await _reminder(app, twilio, series.id)
        callback = await twilio.send_status_callback(text.sid, "undelivered", error_code=63016)
        await app.dispatcher.run_due()
        after = (await messages_of(app, series.id))["reminder-eve-1"]
        [template] = [m for m in twilio.messages if m.sid == after.provider_id]

    assert callback.status == 204
    assert text.content_sid is None
    assert after.status is MessageStatus.SENT and after.last_error is None
    assert template.content_sid == REMINDER_SID
    assert sum(1 for m in twilio.messages if m.content_sid == REMINDER_SID) == 1


def test_templates_check_reports_steps_without_a_whatsapp_template(series_dir: Path) -> None:
    catalog = SeriesCatalog([load_definition(series_dir / "whatsapp-test.toml")])
    environment = TemplateEnvironment()
    clinic = Clinic("Clinic", "949-503-1414")

    used = check_templates(environment, catalog, clinic, capabilities=shipped_capabilities(), whatsapp=True)
    unused = check_templates(environment, catalog, clinic, capabilities=shipped_capabilities(), whatsapp=False)

    def missing_locales(report_lines: list[str]) -> dict[str, list[str]]:
        found = (re.search(r"step '([a-z-]+)': no WhatsApp template for ([a-z, ]+) \(", p) for p in report_lines)
        return {m.group(1): m.group(2).split(", ") for m in found if m}

    # Every locale that has templates is checked (Spanish, where it ships, lacks all three).
    assert "en" in missing_locales(used.problems)["welcome"], used.problems
    assert "en" not in missing_locales(used.problems).get("edu", [])
    assert "en" not in missing_locales(used.problems).get("reminder-eve", [])
    assert not any("WhatsApp" in p for p in unused.problems)
    assert "en" in missing_locales(unused.notices)["welcome"]


def test_a_broken_whatsapp_template_is_refused_or_reported(tmp_path: Path, series_dir: Path) -> None:
    text = (series_dir / "whatsapp-test.toml").read_text(encoding="utf-8")
    bad_sid = tmp_path / "bad-sid.toml"
    bad_sid.write_text(text.replace(REMINDER_SID, "HX123"), encoding="utf-8")
    with pytest.raises(SeriesDefinitionError, match="Content SID"):
        load_definition(bad_sid)

    # The welcome has no infusion: a variable taken from one has no value there.
    no_value = tmp_path / "no-value.toml"
    no_value.write_text(
        text.replace(
            'quiet = "ignore"\n\n[[steps]]\nkey = "edu"',
            f'quiet = "ignore"\n\n[steps.whatsapp.en]\ncontent_sid = "{REMINDER_SID}"\n'
            'variables = { 1 = "infusion.date" }\n\n[[steps]]\nkey = "edu"',
            1,
        ),
        encoding="utf-8",
    )
    catalog = SeriesCatalog([load_definition(no_value)])
    report = check_templates(
        TemplateEnvironment(), catalog, Clinic("Clinic", "1"), capabilities=shipped_capabilities(), whatsapp=True
    )
    assert any("step 'welcome' whatsapp.en" in p and "infusion.date has no value here" in p for p in report.problems)
