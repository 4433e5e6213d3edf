"""A patient's page reads like the patient's phone: each message's text as it went or will go, and a chart
of the check-in answers."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import httpx
from sqlmodel import select

from messenger.domain.models import Infusion, Series
from tests.bot.conftest import OWNER, PATIENT, say
from tests.factories import record_checkins
from tests.web.conftest import dashboard_app, enrol_linked_patient, login_link, sign_in

SIGNING_SECRET = "dashboard-note-links-are-signed-with-this-0123456789"
SPANISH_SMS_ENROL = '/enroll name="Ana Ruiz" first="2026-12-02 10:00" tz=America/Los_Angeles lang=es phone=+15551239999'
BROKEN = "The text cannot be shown: its template has an error."


def shown_text(page: str, step: str) -> tuple[str, str]:
    """The summary and the text of ``step``'s row, as a browser shows them."""
    match = re.search(
        rf'<span class="muted">{re.escape(step)}</span>\s*<details><summary>(.*?)</summary>.*?<pre>(.*?)</pre>',
        page,
        re.DOTALL,
    )
    assert match, f"no text for {step}"
    return unescape(match[1]), unescape(match[2])


async def test_sent_and_pending_messages_show_the_text_in_their_channels_flavour(web_app, bot_api, clock):
    await enrol_linked_patient(bot_api, "Pat Doe")
    clock.advance(timedelta(hours=2))  # the first education note is due
    await web_app.dispatcher.run_due()
    received = await bot_api.wait_for_message(PATIENT, contains="What is chronic pain?")

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        page = await desk.get("/dashboard/patients/1")

    assert page.status_code == 200
    summary, sent = shown_text(page.text, "edu-what-is-chronic-pain")
    assert summary == "As sent on telegram"
    # What the chat shows: Telegram's tags are formatting, not text.
    assert sent == unescape(re.sub(r"<[^>]+>", "", received["text"]))
    summary, pending = shown_text(page.text, "reminder-eve-1")
    assert summary == "As it would read on telegram"
    assert pending.startswith("Tomorrow: infusion 1 of 5\nWednesday, December 2 at 10:00 AM\n")
    assert pending.endswith("See you tomorrow, Pat.")


async def test_a_patient_on_sms_reads_their_own_language_and_no_working_note_link(bot_api, database_url, clock):
    # Twilio configured, never reached: nothing is sent in this test (a send would find nobody listening).
    twilio = {
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": "t" * 32,
        "twilio_sms_from": "+15550001111",
        "twilio_base_url": "http://127.0.0.1:9",
    }
    async with dashboard_app(bot_api, database_url, clock, signing_secret=SIGNING_SECRET, **twilio) as app:
        await say(bot_api, OWNER, SPANISH_SMS_ENROL, expect="Enrolled")
        async with httpx.AsyncClient(timeout=10) as http:
            desk = await sign_in(http, await login_link(bot_api))
            page = await desk.get("/dashboard/patients/1")
        base = app.settings.public_url

    summary, note = shown_text(page.text, "edu-what-is-chronic-pain")
    assert summary == "As it would read on sms", "the staff's language; the patient's text"
    assert note.startswith(f"Su equipo de cuidado le manda una nota: {base}/n/… ¿Preguntas?")
    assert not re.search(r"/n/[A-Za-z0-9]", page.text), "a link that works would record a read nobody made"
    _, reminder = shown_text(page.text, "reminder-eve-1")
    assert reminder.startswith("Recordatorio: mañana, miércoles, 2 de diciembre, a las 10:00 a.m.")


async def test_a_template_error_shows_a_sentence_in_place_of_the_text(bot_api, database_url, clock, tmp_path):
    broken = tmp_path / "templates" / "en" / "reminder"
    broken.mkdir(parents=True)
    (broken / "day-before.telegram.html.j2").write_text("Tomorrow: {{ infusion.no_such_field }}")
    async with dashboard_app(bot_api, database_url, clock, templates_dir=tmp_path / "templates"):
        await enrol_linked_patient(bot_api)
        async with httpx.AsyncClient(timeout=10) as http:
            desk = await sign_in(http, await login_link(bot_api))
            page = await desk.get("/dashboard/patients/1")

    assert page.status_code == 200
    assert page.text.count(BROKEN) == 5, "each evening-before reminder, one per infusion"
    assert shown_text(page.text, "reminder-day-1")[1].startswith("Today at 10:00 AM: infusion 1 of 5"), (
        "the others still show"
    )


async def test_an_erased_patients_messages_show_no_text(web_app, bot_api):
    await enrol_linked_patient(bot_api)

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        before = await desk.get("/dashboard/patients/1")
        await say(bot_api, OWNER, "/forget 1", expect="erased")
        after = await desk.get("/dashboard/patients/1")

    assert "Pat" in shown_text(before.text, "reminder-eve-1")[1]
    assert after.status_code == 200 and "reminder-eve-1" in after.text
    assert "<details>" not in after.text and "<pre>" not in after.text and BROKEN not in after.text


async def test_the_check_in_answers_are_charted_over_time_with_the_infusions(web_app, bot_api):
    await enrol_linked_patient(bot_api)
    await enrol_linked_patient(bot_api, "Sam Roe", user=PATIENT + 1)
    async with web_app.sessions() as session:
        series = (await session.exec(select(Series).where(Series.patient_id == 1))).one()
        times = [i.scheduled_at for i in (await session.exec(select(Infusion).where(Infusion.series_id == 1))).all()]
    day = timedelta(days=1)
    # (after infusion, pain, mood, escalated, when)
    await record_checkins(
        web_app,
        series,
        [(0, 7, 2, False, times[0] - day), (1, 5, 3, False, times[0] + day), (2, 9, 2, True, times[1] + day)],
    )

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        page = await desk.get("/dashboard/patients/1")
        unanswered = await desk.get("/dashboard/patients/2")

    svg = re.search(r"<svg .*?</svg>", page.text, re.DOTALL)
    assert svg, page.text
    chart = svg[0]
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in chart
    assert '<title id="chart-title">Pain and mood at each check-in</title>' in chart
    pains = re.findall(r'<circle class="point pain( escalated)?" cx="([\d.]+)" cy="([\d.]+)"', chart)
    moods = re.findall(r'<rect class="point mood" x="([\d.]+)" y="([\d.]+)"', chart)
    assert len(pains) == 3 and len(moods) == 3
    xs, ys = [float(x) for _, x, _ in pains], [float(y) for _, _, y in pains]
    assert xs == sorted(xs) and len(set(xs)) == 3, "later answers further right"
    assert ys[2] < ys[0] < ys[1], "pain 9 highest, then 7, then 5 (SVG's y grows downwards)"
    assert [flag for flag, _, _ in pains] == ["", "", " escalated"]
    assert "<title>Pain 9 of 10, " in chart and "<title>Mood 3 of 5, " in chart
    assert len(re.findall(r'<line class="infusion (attended|upcoming)"', chart)) == 5
    assert "<script" not in page.text and "style=" not in page.text, "inline scripts and styles break the CSP"
    assert "<td>pain</td><td>9</td>" in page.text, "the table of answers stays, as the chart's text"
    assert "<svg" not in unanswered.text and "No answer yet." in unanswered.text
