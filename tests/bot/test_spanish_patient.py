"""A Spanish-speaking patient over Telegram: enrolled with lang=es, the whole series in Spanish, /language."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from messenger.app import build_app
from messenger.clock import ScaledClock
from messenger.domain.enums import ChannelName, InfusionStatus
from messenger.domain.models import Answer, AuditEvent, Contact, Infusion, Patient
from tests.bot.conftest import OWNER, PATIENT, bot_settings, buttons, invite_code, press, say
from tests.bot.test_patient_flow import COMPACT, _current
from tests.conftest import T0

ENROL_ES = (
    '/enroll name="Ana Ruiz" tz=America/Los_Angeles lang=es phone="(949) 555-0142" '
    'infusions="2026-11-30 12:02, 2026-11-30 12:05"'
)
# Words that would betray an English fallback in a Spanish message.
ENGLISH = (" the ", " your ", " you ", "Today", "Tomorrow", "Thank you", "infusion ", " AM", " PM")


async def test_a_spanish_patient_gets_the_whole_compressed_series_in_spanish(bot_api, database_url):
    # 15x; the story is held just short of each infusion until the patient has pressed that reminder's button.
    clock = ScaledClock(T0, speed=15, running=False)
    settings = bot_settings(bot_api, database_url, series_dir=COMPACT, default_series="compact")
    app = build_app(settings, clock=clock)
    await app.start()
    try:
        enrolled = await say(bot_api, OWNER, ENROL_ES, expect="Enrolled")
        welcome = await say(bot_api, PATIENT, f"/start {invite_code(enrolled['text'])}", expect="Sus infusiones")
        clock.run()
        clock.hold_at(T0 + timedelta(minutes=1, seconds=55))
        app.alarm.poke()

        note = await bot_api.wait_for_message(PATIENT, contains="Lo que una imagen puede mostrar")
        reminder_1 = await bot_api.wait_for_message(PATIENT, contains="Hoy a las 12:02 p.m.")
        await press(bot_api, PATIENT, reminder_1, "Ahí estaré")
        clock.hold_at(T0 + timedelta(minutes=4, seconds=55))
        checkin = await bot_api.wait_for_message(PATIENT, contains="se siente después de la infusión 1")
        await press(bot_api, PATIENT, checkin, "9")
        await press(bot_api, PATIENT, _current(bot_api, checkin), "Bajo")
        await press(bot_api, PATIENT, _current(bot_api, checkin), "Sí")
        reminder_2 = await bot_api.wait_for_message(PATIENT, contains="Hoy a las 12:05 p.m.")
        await press(bot_api, PATIENT, reminder_2, "Necesito otra fecha")
        clock.hold_at(None)
        # Infusion 2 waits for a new time: the end of the series says what was received.
        completion = await bot_api.wait_for_message(PATIENT, contains="recibió 1 de las 2 infusiones", timeout=40)
        await app.alarm.wait_idle()

        async with app.sessions() as session:
            contact = (await session.exec(select(Contact).where(Contact.channel == ChannelName.SMS))).one()
            infusions = {i.number: i.status for i in (await session.exec(select(Infusion))).all()}
            answers = {a.question: a.value for a in (await session.exec(select(Answer))).all()}
    finally:
        await app.stop()

    assert "español" in enrolled["text"] and "Monday, November 30 at 12:02 PM" in enrolled["text"]
    assert contact.address == "+19495550142", "a US national number is stored in E.164"
    assert "Todo el equipo y sus terapeutas de Renew Ketamine Infusion siguen aquí para usted." in completion["text"]
    assert "Sus respuestas las lee su equipo de cuidado" in checkin["text"], "the clinic's words, in Spanish"
    assert "1 de 2: lunes, 30 de noviembre, a las 12:02 p.m." in welcome["text"]
    assert "Por favor, asegúrese de tener alguien que le lleve a casa." in reminder_1["text"]
    assert "Recuerde traer su ID con foto, y seguir las indicaciones de la clínica." in reminder_1["text"]
    assert "✅ Gracias: le esperamos para la infusión 1." in _current(bot_api, reminder_1)["text"]
    assert "Le avisamos a la clínica que necesita otra hora para la infusión 2" in _current(bot_api, reminder_2)["text"]
    final = _current(bot_api, checkin)["text"]
    assert "Dolor: 9/10" in final and "Ánimo: Bajo" in final and "Que me contacten: Sí" in final
    assert buttons(note) == []
    for message in bot_api.sent_messages(PATIENT):
        assert not [word for word in ENGLISH if word in message["text"]], message["text"]
    assert infusions == {1: InfusionStatus.CONFIRMED, 2: InfusionStatus.RESCHEDULE_REQUESTED}
    assert answers == {"pain": "9", "mood": "2", "contact": "yes"}
    staff_texts = " ".join(m.get("text") or "" for m in bot_api.sent_messages(OWNER))  # the report PDF has none
    assert "needs a new time for infusion 2" in staff_texts, "staff keep reading the clinic's language"


async def test_the_patient_switches_language_with_buttons(bot_app, bot_api):
    enrol = '/enroll name="Pat Doe" first="2026-12-02 10:00" tz=America/Los_Angeles'
    code = invite_code((await say(bot_api, OWNER, enrol, expect="Enrolled"))["text"])
    await say(bot_api, PATIENT, f"/start {code}", expect="Your infusions")

    question = await say(bot_api, PATIENT, "/language", expect="Which language")
    await press(bot_api, PATIENT, question, "español")
    schedule = await say(bot_api, PATIENT, "/schedule", expect="Sus infusiones")
    help_text = await say(bot_api, PATIENT, "/help", expect="Esto es lo que puede hacer")
    back = await say(bot_api, PATIENT, "/language", expect="En qué idioma")
    await press(bot_api, PATIENT, back, "English")

    assert buttons(question) == ["English", "español"]
    assert _current(bot_api, question)["text"] == "Listo: desde ahora le escribiremos en español."
    assert "1 de 5: miércoles, 2 de diciembre, a las 10:00 a.m." in schedule["text"]
    assert "/language: cambiar el idioma" in help_text["text"]
    assert _current(bot_api, back)["text"] == "Done: from now on we will write to you in English."
    async with bot_app.sessions() as session:
        patient = (await session.exec(select(Patient))).one()
        changes = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.action == "patient.language").order_by(col(AuditEvent.id))
            )
        ).all()
    assert patient.locale == "en"
    assert [(e.actor, e.detail["language"]) for e in changes] == [("patient:1", "es"), ("patient:1", "en")]


async def test_a_number_typed_as_a_landline_is_flagged_before_the_first_sms(bot_app, bot_api):
    enrol = '/enroll name="Pat Doe" first="2026-12-02 10:00" tz=America/Los_Angeles phone="+44 20 7183 8750"'

    card = await say(bot_api, OWNER, enrol, expect="Enrolled")

    assert "⚠️ +442071838750 looks like a landline: it may not receive text messages." in card["text"]
    async with bot_app.sessions() as session:
        contact = (await session.exec(select(Contact))).one()
    assert contact.address == "+442071838750"
