"""Erasure and retention reach what a patient wrote to the clinic, the alerts that quoted it, and the
Telegram updates carrying it that no process has handled yet."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from messenger.bot.acknowledgement import claim_untaken
from messenger.bot.alerts import StaffAlerts
from messenger.db import transaction
from messenger.domain.bookkeeping import ReceivedUpdate
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import ConversationEntry, Message, StaffAlert
from messenger.domain.triage import Level
from messenger.services.conversation import Inbound, record_inbound, record_reply
from messenger.services.erasure import forget_patient, purge_expired
from tests.factories import enrol_patient

WORDS = "my neighbour Ann drives me, call 555-0100"


async def _write(app, patient_id: int, *, days_ago: float, handled: bool, urgent: bool = False) -> None:
    at = app.clock.now() - timedelta(days=days_ago)
    async with transaction(app.sessions) as session:
        entry = record_inbound(
            session,
            at=at,
            patient_id=patient_id,
            inbound=Inbound(ChannelName.TELEGRAM, WORDS, "photo", "file-123"),
            level=Level.URGENT if urgent else Level.ROUTINE,
        )
        entry.handled_at = at if handled else None
        session.add(StaffAlert(patient_id=patient_id, key="free_text", urgent=urgent, text=WORDS, created_at=at))


async def _rows(app) -> tuple[list[ConversationEntry], list[StaffAlert]]:
    async with app.sessions() as session:
        entries = list((await session.exec(select(ConversationEntry).order_by(ConversationEntry.id))).all())
        alerts = list((await session.exec(select(StaffAlert).order_by(StaffAlert.id))).all())
    return entries, alerts


async def test_forgetting_a_patient_erases_their_words_and_the_alerts_quoting_them(app):
    series = await enrol_patient(app)
    other = await enrol_patient(app, name="Other Patient")
    await _write(app, series.patient_id, days_ago=1, handled=False, urgent=True)
    await _write(app, other.patient_id, days_ago=1, handled=False)
    async with transaction(app.sessions) as session:
        await record_reply(
            session,
            at=app.clock.now(),
            patient_id=series.patient_id,
            channel=ChannelName.TELEGRAM,
            text=WORDS,
            staff_user_id=7,
        )

    async with transaction(app.sessions) as session:
        await forget_patient(session=session, clock=app.clock, patient_id=series.patient_id, actor="staff:1")
    entries, alerts = await _rows(app)

    mine = [e for e in entries if e.patient_id == series.patient_id]
    assert len(mine) == 2, "the entries stay, dated and levelled"
    assert all(e.text is None and e.file_id is None for e in mine)
    assert [e.level for e in mine if e.direction == "in"] == ["urgent"]
    assert [a.text for a in alerts if a.patient_id == series.patient_id] == [""]
    assert [e.text for e in entries if e.patient_id == other.patient_id] == [WORDS]
    assert [a.text for a in alerts if a.patient_id == other.patient_id] == [WORDS]


async def test_retention_purges_old_handled_words_and_keeps_what_still_waits_for_a_person(app):
    series = await enrol_patient(app)
    patient_id = series.patient_id
    await _write(app, patient_id, days_ago=40, handled=True)  # old, answered: purged
    await _write(app, patient_id, days_ago=40, handled=False, urgent=True)  # old, nobody has it yet: kept
    await _write(app, patient_id, days_ago=5, handled=True)  # recent: kept

    async with transaction(app.sessions) as session:
        purged = await purge_expired(session=session, clock=app.clock, days=30)
    entries, alerts = await _rows(app)

    assert (purged.conversation, purged.alerts) == (1, 1)
    assert [e.text for e in entries] == [None, WORDS, WORDS]
    assert [e.file_id for e in entries] == [None, "file-123", "file-123"]
    assert [a.text for a in alerts] == ["", WORDS, WORDS]


async def test_a_send_in_flight_at_erasure_stays_cancelled_and_raises_no_alert(app):
    series = await enrol_patient(app)
    async with transaction(app.sessions) as session:
        row = (await session.exec(select(Message).where(Message.series_id == series.id))).first()
        row.status, row.claimed_by = MessageStatus.SENDING, "worker-1"
        row.lease_until = app.clock.now() + timedelta(minutes=5)
        in_flight = row.pk

    async with transaction(app.sessions) as session:
        await forget_patient(session=session, clock=app.clock, patient_id=series.patient_id, actor="staff:1")
    async with transaction(app.sessions) as session:
        # What the sender would do once its send fails: tell staff. Nobody is left to tell about.
        told = await StaffAlerts(strings=app.strings, locale="en", staff_chat_id=42).queue(
            session, now=app.clock.now(), key="undeliverable", patient_id=series.patient_id, reason="twilio.30003"
        )
    async with app.sessions() as session:
        rows = (await session.exec(select(Message).where(Message.patient_id == series.patient_id))).all()

    assert told == 0
    assert {r.status for r in rows if r.pk == in_flight} == {MessageStatus.CANCELLED}
    assert not [r for r in rows if r.status in (MessageStatus.PENDING, MessageStatus.HELD, MessageStatus.SENDING)]


async def test_an_untaken_urgent_alert_about_an_erased_patient_is_never_sent_again(app):
    series = await enrol_patient(app)
    await _write(app, series.patient_id, days_ago=1, handled=False, urgent=True)
    async with transaction(app.sessions) as session:
        await forget_patient(session=session, clock=app.clock, patient_id=series.patient_id, actor="staff:1")

    alerts = StaffAlerts(strings=app.strings, locale="en", staff_chat_id=42)
    async with transaction(app.sessions) as session:
        waiting = await claim_untaken(session, before=app.clock.now(), now=app.clock.now())
        (alert,) = (await session.exec(select(StaffAlert))).all()
        again = await alerts.queue_again(session, now=app.clock.now(), alert=alert)
        document = await alerts.queue_document(
            session, now=app.clock.now(), key="summary", patient_id=series.patient_id, document=_Pdf()
        )
    async with app.sessions() as session:
        rows = (await session.exec(select(Message).where(Message.staff_chat_id == 42))).all()

    assert (waiting, again, document, rows) == ([], 0, 0, [])


class _Pdf:
    content = b"%PDF-1.4"
    filename = "summary.pdf"
    caption = "Summary"


def _received(update_id: int, chat_id: int, at) -> ReceivedUpdate:
    chat = {"id": chat_id, "type": "private"}
    payload = {"update_id": update_id, "message": {"message_id": 1, "date": 0, "chat": chat, "text": WORDS}}
    return ReceivedUpdate(update_id=update_id, payload=payload, chat_id=chat_id, received_at=at, held_by="process-1")


async def _received_rows(app) -> list[ReceivedUpdate]:
    async with app.sessions() as session:
        return list((await session.exec(select(ReceivedUpdate).order_by(ReceivedUpdate.update_id))).all())


async def test_forgetting_a_patient_drops_what_they_sent_by_telegram_that_no_process_handled_yet(app):
    series = await enrol_patient(app, contacts=[(ChannelName.TELEGRAM, "5005")])
    async with transaction(app.sessions) as session:
        session.add_all([_received(1, 5005, app.clock.now()), _received(2, 6006, app.clock.now())])

    async with transaction(app.sessions) as session:
        await forget_patient(session=session, clock=app.clock, patient_id=series.patient_id, actor="staff:1")
    rows = await _received_rows(app)

    assert [(r.update_id, r.payload is None, r.handled_at) for r in rows] == [
        (1, True, app.clock.now()),  # handled as far as any process is concerned: nobody reads it now
        (2, False, None),
    ]


async def test_retention_drops_telegram_updates_no_process_handled_within_the_period(app):
    now = app.clock.now()
    async with transaction(app.sessions) as session:
        session.add_all([_received(1, 5005, now - timedelta(days=31)), _received(2, 5005, now - timedelta(days=29))])

    async with transaction(app.sessions) as session:
        purged = await purge_expired(session=session, clock=app.clock, days=30)

    assert purged.updates == 1
    assert [r.update_id for r in await _received_rows(app)] == [2]
