"""A claimed row with everything its delivery needs, loaded for a whole batch in four queries (five with a page)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.alerts import is_oncall_page
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.models import Contact, Infusion, Message, Patient, Series, StaffAlert
from messenger.domain.series import SeriesDefinition


@dataclass(slots=True)
class Job:
    """A claimed row with everything its delivery needs."""

    message: Message
    patient: Patient
    series: Series | None
    definition: SeriesDefinition | None
    infusion_times: list[datetime]
    # All the patient's contacts, in the order the patient's contacts are tried.
    contacts: list[Contact]
    # Infusions the patient confirmed or asked to move.
    answered_infusions: frozenset[int]
    # Infusions that did not take place (missed, cancelled, waiting for a new time).
    not_held: frozenset[int] = frozenset()
    # An on-call page's alert was taken ("I'm on it"): the page is no longer needed.
    alert_taken: bool = False

    @property
    def recipient(self) -> tuple[str, int]:
        """Whose messages must go one at a time, in order."""
        if self.message.staff_chat_id is not None:
            return ("staff", self.message.staff_chat_id)
        if is_oncall_page(self.message):
            return ("oncall", 0)
        return ("patient", self.message.patient_id)


async def load(session: AsyncSession, messages: Sequence[Message], catalog: SeriesCatalog) -> list[Job]:
    """Series, patients, infusions and contacts for the whole batch: four queries; a fifth for the
    alerts of on-call pages, when the batch holds one."""
    series_ids = {m.series_id for m in messages if m.series_id is not None}
    patient_ids = {m.patient_id for m in messages}
    series = {s.pk: s for s in await _rows(session, select(Series).where(col(Series.id).in_(series_ids)))}
    patients = {p.pk: p for p in await _rows(session, select(Patient).where(col(Patient.id).in_(patient_ids)))}
    infusions: dict[int, list[Infusion]] = defaultdict(list)
    for infusion in await _rows(
        session, select(Infusion).where(col(Infusion.series_id).in_(series_ids)).order_by(col(Infusion.number))
    ):
        infusions[infusion.series_id].append(infusion)
    contacts: dict[int, list[Contact]] = defaultdict(list)
    for contact in await _rows(
        session,
        select(Contact)
        .where(col(Contact.patient_id).in_(patient_ids))
        .order_by(col(Contact.priority), col(Contact.id)),
    ):
        contacts[contact.patient_id].append(contact)
    paged = {m.alert_id for m in messages if is_oncall_page(m)}
    taken = set(
        await _rows(
            session,
            select(StaffAlert.id).where(col(StaffAlert.id).in_(paged), col(StaffAlert.acknowledged_at).is_not(None)),
        )
        if paged
        else ()
    )
    jobs = []
    for message in messages:
        row = series.get(message.series_id) if message.series_id is not None else None
        own = infusions.get(message.series_id, []) if message.series_id is not None else []
        known = row is not None and row.definition_key in catalog
        jobs.append(
            Job(
                message=message,
                patient=patients[message.patient_id],
                series=row,
                definition=catalog.get(row.definition_key) if row is not None and known else None,
                infusion_times=[i.scheduled_at for i in own],
                contacts=contacts.get(message.patient_id, []),
                answered_infusions=frozenset(i.number for i in own if i.responded_at is not None),
                not_held=frozenset(i.number for i in own if i.status.did_not_happen),
                alert_taken=is_oncall_page(message) and message.alert_id in taken,
            )
        )
    return jobs


async def _rows(session: AsyncSession, statement: Any) -> Sequence[Any]:
    rows: Sequence[Any] = (await session.exec(statement)).all()
    return rows
