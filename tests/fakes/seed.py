"""Fill a database with many patients and outbox rows, for load tests and benchmarks.

Two ways in:

* :func:`enrol_telegram_patients` goes through the real services: ``enrol()`` with the
  compact test series, then ``link_telegram()`` with a chat id of the patient's own. Every
  row is then made due at once (see there). Slower, but the rows are exactly what the bot
  writes for real patients.
* :func:`insert_outbox` bulk-inserts patients, contacts, series and messages with
  SQLAlchemy core: fast enough for a hundred thousand rows, for benchmarks that only need
  the outbox to be big.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from messenger.clock import ManualClock, SystemClock
from messenger.db import session_factory, transaction
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import (
    ChannelName,
    InfusionStatus,
    MessageStatus,
    QuietPolicy,
    SeriesStatus,
    StepKind,
)
from messenger.domain.models import Contact, Infusion, Message, Patient, Series
from messenger.domain.timing import QuietHours
from messenger.services.enrolment import EnrolmentRequest, enrol
from messenger.services.invites import link_telegram

COMPACT_DIR = Path(__file__).resolve().parent.parent / "data" / "series"
COMPACT = "compact"


@dataclass(frozen=True, slots=True)
class Seeded:
    patients: int
    messages: int
    # chat id -> how many messages that chat is owed
    per_chat: dict[int, int]


async def enrol_telegram_patients(
    engine: AsyncEngine, *, patients: int, first_chat_id: int = 700_000_001, per_transaction: int = 100
) -> Seeded:
    """Enrol ``patients`` patients in the compact series, each linked to chat ``first_chat_id + i``.

    The enrolments happen an hour ago (a manual clock), with both infusions 10 and 20 minutes
    after enrolment, so every step's ``send_at`` is in the past. The same-day reminders carry
    ``not_after`` = the infusion time, which has passed too; it is cleared so that every row is
    due *and* sendable, which is what a load test wants.
    """
    catalog = SeriesCatalog.load(COMPACT_DIR)
    sessions = session_factory(engine)
    # Real time, as the ``messenger run`` processes that send these rows read the system clock.
    enrolled_at = SystemClock().now().replace(microsecond=0) - timedelta(hours=1)
    clock = ManualClock(enrolled_at)
    infusions = [enrolled_at + timedelta(minutes=10), enrolled_at + timedelta(minutes=20)]
    quiet = QuietHours()  # the compact series ignores quiet hours anyway
    for start in range(0, patients, per_transaction):
        async with transaction(sessions) as session:
            for i in range(start, min(patients, start + per_transaction)):
                series = await enrol(
                    session=session,
                    catalog=catalog,
                    clock=clock,
                    quiet_hours=quiet,
                    actor="system",
                    request=EnrolmentRequest(
                        name=f"Patient {i:05d}", timezone="UTC", series_key=COMPACT, infusions=infusions
                    ),
                )
                await link_telegram(
                    session=session, patient_id=series.patient_id, chat_id=first_chat_id + i, now=enrolled_at
                )
    async with transaction(sessions) as session:
        await session.exec(update(Message).where(Message.not_after.is_not(None)).values(not_after=None))  # type: ignore[call-overload, union-attr]
    return await owed_per_chat(engine)


async def owed_per_chat(engine: AsyncEngine) -> Seeded:
    """Pending rows per Telegram chat, as the database holds them now."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(Contact.address, Message.id)
                .join(Message, Message.patient_id == Contact.patient_id)  # type: ignore[arg-type]
                .where(Contact.channel == ChannelName.TELEGRAM, Message.status == MessageStatus.PENDING)  # type: ignore[arg-type]
            )
        ).all()
        patients = len((await connection.execute(select(Patient.id))).all())
    per_chat: dict[int, int] = {}
    for address, _message_id in rows:
        per_chat[int(address)] = per_chat.get(int(address), 0) + 1
    return Seeded(patients=patients, messages=len(rows), per_chat=per_chat)


async def insert_outbox(
    engine: AsyncEngine,
    *,
    messages: int,
    channel: ChannelName = ChannelName.CONSOLE,
    due: bool = True,
    per_patient: int = 10,
    series_key: str = COMPACT,
    chunk: int = 5_000,
) -> int:
    """Bulk-insert ``messages`` pending rows for ``messages / per_patient`` patients; returns the count.

    ``due`` puts every ``send_at`` an hour in the past; otherwise the rows are spread over the
    next 30 days (a full outbox that is not yet due). Each patient has one contact on
    ``channel`` and an active series of ``series_key`` with two infusions; the steps use the compact
    series' templates.
    """
    now = SystemClock().now().replace(microsecond=0)
    patient_count = max(1, -(-messages // per_patient))
    templates = [
        ("welcome", StepKind.WELCOME, "welcome"),
        ("edu", StepKind.EDUCATION, "education/imaging"),
        ("completion", StepKind.COMPLETION, "completion"),
    ]
    async with engine.begin() as connection:
        first_patient = (await connection.execute(select(Patient.id).order_by(Patient.id.desc()).limit(1))).scalar()  # type: ignore[union-attr]
        base = (first_patient or 0) + 1
        for start in range(0, patient_count, chunk):
            ids = range(base + start, base + min(patient_count, start + chunk))
            await connection.execute(
                insert(Patient),
                [
                    {"id": pid, "name": f"Patient {pid}", "locale": "en", "timezone": "UTC", "created_at": now}
                    for pid in ids
                ],
            )
            await connection.execute(
                insert(Contact),
                [
                    {
                        "id": pid,
                        "patient_id": pid,
                        "channel": channel,
                        "address": str(700_000_000 + pid),
                        "priority": 0,
                        "reachable": True,
                        "opted_out": False,
                        "updated_at": now,
                    }
                    for pid in ids
                ],
            )
            await connection.execute(
                insert(Series),
                [
                    {
                        "id": pid,
                        "patient_id": pid,
                        "definition_key": series_key,
                        "status": SeriesStatus.ACTIVE,
                        "enrolled_at": now,
                        "status_changed_at": now,
                    }
                    for pid in ids
                ],
            )
            await connection.execute(
                insert(Infusion),
                [
                    {
                        "series_id": pid,
                        "number": number,
                        "scheduled_at": now + timedelta(days=number),
                        "status": InfusionStatus.SCHEDULED,
                    }
                    for pid in ids
                    for number in (1, 2)
                ],
            )
        rows = []
        written = 0
        for n in range(messages):
            pid = base + n // per_patient
            step = n % per_patient
            key, kind, template = templates[step % len(templates)]
            at = now - timedelta(hours=1) if due else now + timedelta(seconds=60 + (n * 2_592_000) // messages)
            rows.append(
                {
                    "series_id": pid,
                    "patient_id": pid,
                    "step_key": f"{key}-{step}",
                    "kind": kind,
                    "template": template,
                    "quiet": QuietPolicy.IGNORE,
                    "due_at": at,
                    "send_at": at,
                    "not_after": None,
                    "status": MessageStatus.PENDING,
                    "attempts": 0,
                    "updated_at": now,
                }
            )
            if len(rows) == chunk:
                await connection.execute(insert(Message), rows)
                written += len(rows)
                rows = []
        if rows:
            await connection.execute(insert(Message), rows)
            written += len(rows)
    if engine.dialect.name == "postgresql":  # explicit ids above: move the sequences past them
        async with engine.begin() as connection:
            for table in ("patient", "contact", "series"):
                await connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
    return written
