"""A Spanish-speaking patient by SMS: Spanish keywords, Spanish replies, and texts that stay GSM-7."""

from __future__ import annotations

from datetime import timedelta

import pytest

from messenger.domain.enums import ChannelName
from messenger.rendering.sms import sms_segments
from messenger.services.inbound import keyword
from tests.conftest import T0
from tests.factories import enrol_patient, messages_of, run_until
from tests.inbound.support import (
    OWNER,
    PATIENT_PHONE,
    SMS_FROM,
    WAIT,
    contact,
    inbound_settings,
    inbound_url,
    running_app,
    sent_rows,
    twiml_reply,
)


async def test_parar_then_comenzar_by_sms_in_spanish(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)], locale="es")
        await app.dispatcher.run_due()
        welcome = twilio.messages[0].body
        helped = twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "Ayuda", to=SMS_FROM))

        stopped = twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "PARAR", to=SMS_FROM))
        after_stop = await contact(app, ChannelName.SMS)
        await bot_api.wait_for_message(OWNER, contains="stopped messages on sms", timeout=WAIT)
        await run_until(app, T0 + timedelta(hours=3))
        sent_while_stopped = len(twilio.messages)

        started = twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "comenzar", to=SMS_FROM))
        after_start = await contact(app, ChannelName.SMS)
        imaging = (await messages_of(app, series.id))["edu-imaging"]
        await run_until(app, imaging.send_at)
        by_provider = await sent_rows(app)

    assert welcome.startswith("Hola de su equipo de cuidado. Sus visitas: 2 dic 10:00 a.m.; 5 dic 10:00 a.m.;")
    assert sms_segments(welcome).encoding == "GSM-7"
    assert helped == (
        "Mensajes de su equipo de cuidado. Responda PARAR para detenerlos, COMENZAR para recibirlos otra vez. "
        "¿Preguntas? Llame al 949-503-1414."
    )
    assert (
        stopped == "Ya no le enviaremos mensajes de su equipo de cuidado. Responda COMENZAR para recibirlos otra vez."
    )
    assert (after_stop.opted_out, after_stop.status_reason) == (True, "replied PARAR")
    assert sent_while_stopped == 1, "nothing may go to a number that replied PARAR"
    assert (
        started == "Bienvenido de nuevo: le enviaremos sus mensajes otra vez. Responda PARAR cuando quiera detenerlos."
    )
    assert after_start.opted_out is False
    assert [by_provider[m.sid].step_key for m in twilio.messages] == ["welcome", "edu-imaging"]
    note = twilio.messages[-1].body
    # Without a public address there is no note link: the text says how to hear the note instead.
    assert note.startswith("Su equipo de cuidado tiene una nota nueva para usted.")
    assert sms_segments(note).encoding == "GSM-7"


async def test_a_spanish_reminder_by_sms_carries_the_clinics_words_in_spanish(database_url, clock, twilio):
    settings = inbound_settings(database_url, twilio=twilio)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)], locale="es")
        eve = (await messages_of(app, series.id))["reminder-eve-1"]
        await run_until(app, eve.send_at)
        by_provider = await sent_rows(app)

    reminder = next(m.body for m in twilio.messages if by_provider[m.sid].step_key == "reminder-eve-1")
    assert reminder == (
        "Recordatorio: mañana, miércoles, 2 de diciembre, a las 10:00 a.m., es su visita 1 de 5. "
        "Traiga su ID con foto, una lista de los medicamentos que toma ahora y ropa abrigada y confortable. "
        "Consiga un adulto que le lleve a casa, porque usted no puede manejar el resto de la jornada de su visita. "
        "Antes de venir, recuerde seguir las indicaciones que le dimos sobre comer y beber. "
        "Para cambiar la cita, llame al 949-503-1414."
    )
    assert (sms_segments(reminder).encoding, sms_segments(reminder).segments) == ("GSM-7", 3)


@pytest.mark.parametrize(
    ("body", "word"),
    [
        pytest.param("PARAR", "parar", id="upper-case"),
        pytest.param("  Sí. ", "si", id="accent-and-dot"),
        pytest.param("¡Ayuda!", "ayuda", id="spanish-exclamation"),
        pytest.param("Darse   de baja", "darse de baja", id="phrase-with-spaces"),
        pytest.param("STOP", "stop", id="english"),
    ],
)
def test_a_reply_is_compared_as_one_folded_word(body: str, word: str) -> None:
    assert keyword(body) == word
