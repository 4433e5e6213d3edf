"""Builders for the rows and requests tests need."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from messenger.app import App
from messenger.db import transaction
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Answer, ContactBase, Message, Series
from messenger.domain.timing import from_wall, local_wall
from messenger.services.audit import staff_actor
from messenger.services.enrolment import EnrolmentRequest, enrol

LA = ZoneInfo("America/Los_Angeles")
OWNER = 1001


def local(zone: ZoneInfo, *args: int) -> datetime:
    """An aware instant from local wall-clock parts, e.g. ``local(LA, 2026, 12, 1, 10, 0)``."""
    return from_wall(datetime(*args), zone)  # type: ignore[arg-type]


def days_later_at(instant: datetime, days: int, at: time, zone: ZoneInfo = LA) -> datetime:
    return from_wall(datetime.combine(local_wall(instant, zone).date() + timedelta(days=days), at), zone)


async def enrol_patient(
    app: App,
    *,
    name: str = "Jane Doe",
    zone: ZoneInfo = LA,
    first: datetime | None = None,
    infusions: list[datetime] | None = None,
    contacts: list[tuple[ChannelName, str]] | None = None,
    locale: str = "en",
) -> Series:
    first = first or days_later_at(app.clock.now(), 2, time(10, 0), zone)
    request = EnrolmentRequest(
        name=name,
        timezone=zone.key,
        series_key=app.settings.default_series,
        locale=locale,
        first_infusion=None if infusions else first,
        infusions=infusions,
        contacts=[ContactBase(channel=c, address=a) for c, a in (contacts or [(ChannelName.CONSOLE, name)])],
    )
    async with transaction(app.sessions) as session:
        return await enrol(
            session=session,
            catalog=app.catalog,
            clock=app.clock,
            quiet_hours=app.quiet_hours,
            request=request,
            actor=staff_actor(OWNER),
        )


async def messages_of(app: App, series_id: int) -> dict[str, Message]:
    async with app.sessions() as session:
        rows = await session.exec(select(Message).where(Message.series_id == series_id).order_by(col(Message.id)))
        return {m.step_key: m for m in rows.all()}


async def statuses(app: App, series_id: int) -> dict[str, MessageStatus]:
    return {key: m.status for key, m in (await messages_of(app, series_id)).items()}


async def run_until(app: App, instant: datetime) -> None:
    """Move the app's (manual) clock to ``instant``, running the dispatcher at each due time on the way."""
    while (due := await app.dispatcher.next_due_at()) is not None and due <= instant:
        app.clock.set(max(app.clock.now(), due))  # type: ignore[attr-defined]
        await app.dispatcher.run_due()
    app.clock.set(max(app.clock.now(), instant))  # type: ignore[attr-defined]


async def record_checkins(app: App, series: Series, rows: list[tuple[int, int, int, bool, datetime]]) -> None:
    """(after infusion, pain, mood, escalated, when) per check-in, each with its own sent check-in message."""
    async with transaction(app.sessions) as session:
        messages = (
            await session.exec(select(Message).where(Message.series_id == series.id, Message.kind == "checkin"))
        ).all()
        by_key = {m.step_key: m for m in messages}
        for after, pain, mood, escalated, at in rows:
            message = by_key["checkin-baseline" if after == 0 else f"checkin-{after}"]
            message.status, message.sent_at = MessageStatus.SENT, at - timedelta(hours=1)
            for question, value, flagged in (("pain", pain, escalated), ("mood", mood, False)):
                session.add(
                    Answer(
                        series_id=series.pk,
                        patient_id=series.patient_id,
                        message_id=message.id,
                        question=question,
                        value=str(value),
                        score=value,
                        escalated=flagged,
                        answered_at=at,
                        after_infusion=after,
                    )
                )
