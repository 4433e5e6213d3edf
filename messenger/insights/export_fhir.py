"""The FHIR export: one R4B Bundle (R4-compatible) of the clinic's patients and their courses.

Patient per patient, Appointment per infusion, QuestionnaireResponse per check-in and
Communication per message that was sent or failed. Every resource is built through
``fhir.resources`` models, so the bundle is validated as it is made.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.enums import ChannelName, MessageStatus, StepKind
from messenger.domain.models import Answer, Contact, Infusion, Message, Patient, Series
from messenger.insights.course import Attendance, attendance_of

APPOINTMENT_STATUS = {
    Attendance.ATTENDED: "fulfilled",
    Attendance.MISSED: "noshow",
    Attendance.UPCOMING: "booked",
    Attendance.CANCELLED: "cancelled",
}
TELECOM = {ChannelName.SMS: "sms", ChannelName.WHATSAPP: "phone", ChannelName.EMAIL: "email"}
SYSTEM = "https://github.com/messenger/messenger"


def instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _entry(resource: Any) -> dict[str, Any]:
    return {"fullUrl": f"urn:messenger:{resource.get_resource_type()}/{resource.id}", "resource": resource}


async def fhir_bundle(session: AsyncSession, *, now: datetime) -> Bundle:
    patients = (await session.exec(select(Patient).order_by(col(Patient.id)))).all()
    contacts: dict[int, list[Contact]] = defaultdict(list)
    for contact in (await session.exec(select(Contact).order_by(col(Contact.priority)))).all():
        contacts[contact.patient_id].append(contact)
    series = {s.pk: s for s in (await session.exec(select(Series))).all()}
    entries = [_entry(_patient(p, contacts[p.pk])) for p in patients]
    infusions = (await session.exec(select(Infusion).order_by(col(Infusion.id)))).all()
    entries += [_entry(_appointment(i, series[i.series_id].patient_id, now)) for i in infusions]
    answers: dict[int | None, list[Answer]] = defaultdict(list)
    for answer in (await session.exec(select(Answer).order_by(col(Answer.id)))).all():
        answers[answer.message_id].append(answer)
    entries += [_entry(_response(group)) for group in answers.values()]
    messages = await session.exec(
        select(Message)
        .where(col(Message.status).in_([MessageStatus.SENT, MessageStatus.FAILED]), Message.kind != StepKind.ALERT)
        .order_by(col(Message.id))
    )
    entries += [_entry(_communication(m)) for m in messages.all()]
    return Bundle(type="collection", timestamp=instant(now), entry=entries)


def _patient(patient: Patient, contacts: list[Contact]) -> FhirPatient:
    return FhirPatient(
        id=f"patient-{patient.pk}",
        identifier=[{"system": f"{SYSTEM}/patient", "value": str(patient.pk)}],
        name=[{"text": patient.name}],
        communication=[{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": patient.locale}]}}],
        telecom=[
            {"system": TELECOM[c.channel], "value": c.address, "rank": index + 1}
            for index, c in enumerate(contacts)
            if c.channel in TELECOM
        ]
        or None,
    )


def _appointment(infusion: Infusion, patient_id: int, now: datetime) -> Appointment:
    return Appointment(
        id=f"infusion-{infusion.series_id}-{infusion.number}",
        status=APPOINTMENT_STATUS[attendance_of(infusion, now)],
        description=f"infusion {infusion.number}",
        start=instant(infusion.scheduled_at),
        participant=[{"actor": {"reference": f"Patient/patient-{patient_id}"}, "status": "accepted"}],
    )


def _response(answers: list[Answer]) -> QuestionnaireResponse:
    first = answers[0]
    items = []
    for answer in answers:
        value = {"valueInteger": answer.score} if answer.score is not None else {"valueString": answer.value}
        items.append({"linkId": answer.question, "answer": [value]})
    return QuestionnaireResponse(
        id=f"checkin-{first.message_id or f'answer-{first.id}'}",
        status="completed" if len(answers) >= 3 else "in-progress",
        subject={"reference": f"Patient/patient-{first.patient_id}"},
        authored=instant(first.answered_at),
        item=items,
    )


def _communication(message: Message) -> Communication:
    return Communication(
        id=f"message-{message.pk}",
        status="completed" if message.status is MessageStatus.SENT else "not-done",
        subject={"reference": f"Patient/patient-{message.patient_id}"},
        sent=instant(message.sent_at) if message.sent_at else None,
        medium=[{"text": message.channel.value}] if message.channel else None,
        topic={"text": message.step_key},
    )
