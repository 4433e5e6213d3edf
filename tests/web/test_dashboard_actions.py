"""Staff act from the dashboard with the bot's own services: same rules, same audit, same messages out."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlmodel import col, select

from messenger.domain.enums import ChannelName, InfusionStatus, MessageStatus, SeriesStatus
from messenger.domain.models import AuditEvent, Contact, Infusion, Message, Series, StaffAlert
from tests.bot.conftest import OWNER, PATIENT, invite_code, say
from tests.web.conftest import ENROL, enrol_linked_patient, login_link, sign_in


async def _audit(app, action: str) -> list[AuditEvent]:
    async with app.sessions() as session:
        return list((await session.exec(select(AuditEvent).where(AuditEvent.action == action))).all())


async def test_search_by_name_or_number_and_filter_by_status(web_app, bot_api):
    await enrol_linked_patient(bot_api, "Pat Doe")
    await enrol_linked_patient(bot_api, "Sam Roe", user=PATIENT + 1)
    await say(bot_api, OWNER, "/pause 2", expect="paused")

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        by_name = await desk.get("/dashboard/patients", q="doe")
        by_number = await desk.get("/dashboard/patients", q="#2")
        paused = await desk.get("/dashboard/patients", status="paused")
        wildcard = await desk.get("/dashboard/patients", q="%")

    assert "Pat Doe" in by_name.text and "Sam Roe" not in by_name.text
    assert "Sam Roe" in by_number.text and "Pat Doe" not in by_number.text
    assert "Sam Roe" in paused.text and "Pat Doe" not in paused.text
    assert "No patient matches." in wildcard.text, "a % is a character, not a wildcard"
    assert "#1, Wed, Dec 2, 2026, 10:00 AM PST" in by_name.text


async def test_a_reply_reaches_the_patient_on_telegram_and_is_audited(web_app, bot_api):
    await enrol_linked_patient(bot_api)
    await say(bot_api, PATIENT, "Can I drive after the infusion?")

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        waiting = await desk.get("/dashboard/inbox")
        sent = await desk.post("/dashboard/patients/1/reply", text="No: please arrange a ride <home>.")
        received = await bot_api.wait_for_message(PATIENT, contains="please arrange a ride")
        page = await desk.get("/dashboard/patients/1")
        empty = await desk.get("/dashboard/inbox")
        blank = await desk.post("/dashboard/patients/1/reply", text="   ")

    assert "Pat Doe (#1)" in waiting.text
    assert sent.status_code == 200 and "Your reply to Pat Doe is on its way by telegram." in sent.text
    assert received["text"] == "Renew Ketamine Infusion: No: please arrange a ride <home>."
    assert "Can I drive after the infusion?" in page.text and "please arrange a ride &lt;home&gt;." in page.text
    assert "No patient is waiting for an answer." in empty.text
    assert blank.status_code == 400 and "Write a reply first." in blank.text
    [event] = await _audit(web_app, "inbox.reply")
    assert event.actor == f"staff:{OWNER}" and event.patient_id == 1


async def test_reschedule_shows_what_moves_and_moves_only_once_confirmed(web_app, bot_api):
    await enrol_linked_patient(bot_api)

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        preview = await desk.post("/dashboard/patients/1/reschedule", number="2", when="2026-12-06T14:30")
        async with web_app.sessions() as session:
            unchanged = (await session.exec(select(Infusion).where(Infusion.number == 2))).one().scheduled_at
        confirmed = await desk.post(
            "/dashboard/patients/1/reschedule", number="2", when="2026-12-06T14:30", confirm="yes"
        )
        refused = await desk.post("/dashboard/patients/1/reschedule", number="2", when="2026-11-01T10:00")

    assert preview.status_code == 200 and "Move infusion 2 of Pat Doe to Sun, Dec 6, 2026, 2:30 PM PST?" in preview.text
    assert (
        "<tr><td>reminder-eve-2</td><td>Fri, Dec 4, 2026, 6:00 PM PST</td><td>Sat, Dec 5, 2026, 6:00 PM PST</td></tr>"
        in preview.text
    )
    assert (
        "<td>reminder-day-2</td><td>Sat, Dec 5, 2026, 8:00 AM PST</td><td>Sun, Dec 6, 2026, 8:00 AM PST</td>"
        in preview.text
    )
    assert unchanged.day == 5, "a preview changes nothing"
    assert confirmed.status_code == 200 and "moved" in confirmed.text
    assert refused.status_code == 400 and "That time has already passed." in refused.text
    async with web_app.sessions() as session:
        infusion = (await session.exec(select(Infusion).where(Infusion.number == 2))).one()
        notices = (await session.exec(select(Message).where(col(Message.step_key).startswith("moved-2-")))).all()
    assert infusion.scheduled_at.day == 6 and infusion.scheduled_at.hour == 22
    assert len(notices) == 1, "the patient is told once: the preview queued nothing"
    [event] = await _audit(web_app, "reschedule")
    assert event.actor == f"staff:{OWNER}"


async def test_pause_resume_cancel_and_attendance(web_app, bot_api, clock):
    await enrol_linked_patient(bot_api)
    clock.advance(timedelta(days=2))  # infusion 1 has happened

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        paused = await desk.post("/dashboard/patients/1/pause")
        resumed = await desk.post("/dashboard/patients/1/resume")
        attended = await desk.post("/dashboard/patients/1/attendance", number="1", outcome="attended")
        bogus = await desk.post("/dashboard/patients/1/attendance", number="1", outcome="maybe")
        async with web_app.sessions() as session:
            waiting = len((await session.exec(select(Message).where(Message.status == MessageStatus.PENDING))).all())
        preview = await desk.post("/dashboard/patients/1/cancel")
        async with web_app.sessions() as session:
            still = (await session.exec(select(Series))).one().status
        audited = await _audit(web_app, "cancel")
        forged = await desk.http.post(desk.base + "/dashboard/patients/1/cancel", data={"confirm": "yes"})
        cancelled = await desk.post("/dashboard/patients/1/cancel", confirm="yes")
        unknown = await desk.post("/dashboard/patients/99/pause")

    assert "on hold" in paused.text and "released" in resumed.text
    assert "marked attended" in attended.text
    assert bogus.status_code == 400 and "not one the dashboard sends" in bogus.text
    assert preview.status_code == 200 and "Cancel the series of Pat Doe?" in preview.text
    assert f"<li>{waiting} messages not sent yet will not be sent.</li>" in preview.text
    assert "<li>4 infusions not yet begun will be cancelled.</li>" in preview.text, "infusion 1 took place"
    assert f'name="csrf" value="{desk.csrf}"' in preview.text and 'name="confirm" value="yes"' in preview.text
    assert still is SeriesStatus.ACTIVE and audited == [], "a preview changes nothing"
    assert forged.status_code == 403, "the confirmation carries the form token too"
    assert f"Series for patient #1 cancelled: {waiting} message(s) will not be sent." in cancelled.text
    assert unknown.status_code == 400 and "There is no patient #99." in unknown.text
    async with web_app.sessions() as session:
        series = (await session.exec(select(Series))).one()
        first = (await session.exec(select(Infusion).where(Infusion.number == 1))).one()
        pending = (await session.exec(select(Message).where(Message.status == MessageStatus.PENDING))).all()
    # Cancelling keeps what took place: infusion 1 was marked attended before the series was cancelled.
    assert series.status is SeriesStatus.CANCELLED and first.status is InfusionStatus.ATTENDED
    [marked] = await _audit(web_app, "infusion.attended")
    assert marked.actor == f"staff:{OWNER}" and marked.patient_id == 1
    assert pending == []
    assert {e.actor for e in await _audit(web_app, "pause")} == {f"staff:{OWNER}"}


async def test_i_am_on_it_takes_an_urgent_alert_once(web_app, bot_api):
    await enrol_linked_patient(bot_api)
    await say(bot_api, PATIENT, "I have chest pain", expect="911")

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        inbox = await desk.get("/dashboard/inbox")
        async with web_app.sessions() as session:
            alert = (await session.exec(select(StaffAlert).where(col(StaffAlert.urgent).is_(True)))).one()
        taken = await desk.post(f"/dashboard/alerts/{alert.pk}/take")
        again = await desk.post(f"/dashboard/alerts/{alert.pk}/take")
        after = await desk.get("/dashboard/inbox")

    assert "I'm on it" in inbox.text and "Pat Doe (#1)" in inbox.text
    assert "You have taken the alert" in taken.text
    assert "Already taken by" in again.text
    assert "No alert is waiting." in after.text
    [event] = await _audit(web_app, "alert.acknowledge")
    assert event.actor == f"staff:{OWNER}"


async def test_pages_speak_spanish_when_the_clinic_does(bot_api, database_url, clock):
    from messenger.app import build_app
    from tests.bot.conftest import bot_settings
    from tests.inbound.support import free_port, hold_alarm

    port = free_port()
    settings = bot_settings(
        bot_api, database_url, public_url=f"http://127.0.0.1:{port}", http_port=port, default_locale="es"
    )
    app = build_app(settings, clock=clock, serve_http=True)
    await app.start()
    await hold_alarm(app)
    try:
        answer = await say(bot_api, OWNER, "/dashboard", expect="/dashboard/login/")
        link = answer["text"].split("\n")[-1]
        async with httpx.AsyncClient(timeout=10) as http:
            desk = await sign_in(http, link)
            page = await desk.get("/dashboard/patients")
    finally:
        await app.stop()

    assert answer["text"].startswith("Su enlace para entrar al panel")
    assert '<html lang="es">' in page.text and "Pacientes" in page.text and "Buscar" in page.text


async def test_the_agenda_lists_the_next_24_hours_by_time(web_app, bot_api, clock):
    await enrol_linked_patient(bot_api)

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        today = await desk.get("/dashboard/agenda")
        clock.advance(timedelta(hours=11))
        await web_app.dispatcher.run_due()
        later = await desk.get("/dashboard/agenda")

    assert "<td>edu-what-is-chronic-pain</td><td>education</td><td>first reachable contact</td>" in today.text
    assert "Mon, Nov 30, 2026, 2:00 PM PST" in today.text and "Pat Doe (#1)" in today.text
    assert "reminder-eve-1" not in today.text, "beyond 24 hours"
    assert "reminder-eve-1" in later.text and "edu-what-is-chronic-pain" not in later.text, "what was sent is gone"
    assert later.text.index("edu-imaging") < later.text.index("reminder-eve-1"), "by time"
    assert "overdue" not in today.text + later.text


async def test_the_agenda_shows_what_is_overdue_first_in_words(web_app, bot_api, clock):
    await enrol_linked_patient(bot_api)

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        clock.advance(timedelta(hours=3))  # the first note was due an hour ago; nothing has sent it
        stuck = await desk.get("/dashboard/agenda")
        await web_app.dispatcher.run_due()
        caught_up = await desk.get("/dashboard/agenda")

    assert "1 message overdue: due before now and still not sent, listed first." in stuck.text
    assert (
        '<tr><td>Mon, Nov 30, 2026, 2:00 PM PST <span class="status failed">overdue</span></td>'
        '<td><a href="/dashboard/patients/1">Pat Doe (#1)</a></td><td>edu-what-is-chronic-pain</td>'
    ) in stuck.text
    assert stuck.text.index("edu-what-is-chronic-pain") < stuck.text.index("edu-imaging"), "overdue first"
    assert "overdue" not in caught_up.text and "edu-what-is-chronic-pain" not in caught_up.text


async def test_a_new_invite_shows_its_qr_code_and_links_the_patient(web_app, bot_api):
    await say(bot_api, OWNER, ENROL.format(name="Ann Lee"), expect="Enrolled")

    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        page = await desk.post("/dashboard/patients/1/invite")
    link = re.search(r'<a href="(https://t\.me/clinic_test_bot\?start=[A-Za-z0-9_-]+)">', page.text)
    assert link, page.text
    await say(bot_api, PATIENT, f"/start {invite_code(link[1])}", expect="Your infusions")

    assert 'src="data:image/svg+xml' in page.text and 'alt="QR code of the invite link"' in page.text
    async with web_app.sessions() as session:
        contact = (await session.exec(select(Contact).where(Contact.channel == ChannelName.TELEGRAM))).one()
    assert contact.patient_id == 1 and contact.address == str(PATIENT)
    assert [e.actor for e in await _audit(web_app, "invite")] == [f"staff:{OWNER}", f"staff:{OWNER}"], (
        "enrol, then here"
    )


async def test_the_series_page_lists_each_step_and_previews_it_in_each_language(web_app, bot_api):
    async with httpx.AsyncClient(timeout=10) as http:
        desk = await sign_in(http, await login_link(bot_api))
        listing = await desk.get("/dashboard/series")
        english = await desk.get("/dashboard/series/reminder-eve-2")
        spanish = await desk.get("/dashboard/series/reminder-eve-2", lang="es")
        unknown = await desk.get("/dashboard/series/no-such-step")

    assert "Series ketamine-chronic-pain" in listing.text
    assert (
        '<a href="/dashboard/series/reminder-eve-2">reminder-eve-2</a></td><td>reminder</td><td>infusion 2</td>'
        in listing.text
    )
    for flavour in ("telegram.html", "sms", "email-subject", "email.html"):
        assert f"<h2>{flavour}</h2>" in english.text and f"<h2>{flavour}</h2>" in spanish.text
    assert english.text != spanish.text and 'aria-current="page">es<' in spanish.text
    assert unknown.status_code == 400 and "The series has no such step." in unknown.text
