"""/progress, /report, /summary and /export through the real bot over HTTP, and the PDF at the end of a course."""

from __future__ import annotations

import io
import zipfile

from PIL import Image
from pypdf import PdfReader
from sqlmodel import select

from messenger.domain.enums import MessageStatus
from messenger.domain.models import AuditEvent, Message
from tests.bot.conftest import OWNER, STAFF, press, say
from tests.fakes.bot_api import FakeBotApi

ENROL = '/enroll name="Jane O\'Hara" first="2026-12-02 10:00" tz=America/Los_Angeles phone=+15551230000'


async def _upload(api: FakeBotApi, user_id: int, text: str, kind: str) -> dict:
    """Send a command; return the bot's next message to that user carrying a ``kind`` (photo or document)."""
    before = len(api.sent_messages(user_id))
    api.user_sends(user_id, text)
    await api.wait_for(lambda a: any(kind in m for m in a.sent_messages(user_id)[before:]))
    return next(m for m in api.sent_messages(user_id)[before:] if kind in m)


async def test_progress_sends_a_chart_with_a_caption(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")

    photo = await _upload(bot_api, OWNER, "/progress 1", "photo")

    content, _name = bot_api.uploaded(photo)
    assert Image.open(io.BytesIO(content)).size == (1200, 750)
    assert "#1 Jane O'Hara" in photo["caption"] and "no change since baseline yet" in photo["caption"]
    assert len(bot_api.calls_to("sendPhoto")) == 1
    async with bot_app.sessions() as session:
        event = (await session.exec(select(AuditEvent).where(AuditEvent.action == "view.progress"))).one()
    assert (event.actor, event.patient_id) == (f"staff:{OWNER}", 1)


async def test_the_patient_card_has_a_chart_button(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")
    card = await say(bot_api, OWNER, "/patient 1", expect="Infusions")

    before = len(bot_api.calls_to("sendPhoto"))
    await press(bot_api, OWNER, card, "Progress chart")
    await bot_api.wait_for(lambda a: len(a.calls_to("sendPhoto")) > before)


async def test_export_sends_the_csv_zip_to_an_owner_only(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")
    await say(bot_api, OWNER, f"/staff add {STAFF}", expect="is now")

    document = await _upload(bot_api, OWNER, "/export", "document")
    refused = await say(bot_api, STAFF, "/export", expect="owner")

    content, name = bot_api.uploaded(document)
    assert name.startswith("messenger-export-") and name.endswith(".zip")
    assert "patients.csv" in zipfile.ZipFile(io.BytesIO(content)).namelist()
    assert "Only an owner" in refused["text"]
    async with bot_app.sessions() as session:
        exports = (await session.exec(select(AuditEvent).where(AuditEvent.action == "export"))).all()
    assert [e.actor for e in exports] == [f"staff:{OWNER}"]


async def test_report_and_summary(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")

    report = await _upload(bot_api, OWNER, "/report 7", "photo")
    summary = await _upload(bot_api, OWNER, "/summary 1", "document")
    wrong = await say(bot_api, OWNER, "/report soon", expect="number")

    assert "Clinic report, last 7 days" in report["caption"] and "1 enrolled" in report["caption"]
    pdf = PdfReader(io.BytesIO(bot_api.uploaded(summary)[0]))
    assert len(pdf.pages) == 1 and "Dec 14, 2026" in pdf.pages[0].extract_text()
    assert "soon" in wrong["text"]


async def test_a_cancelled_series_sends_its_summary_to_staff(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")

    await say(bot_api, OWNER, "/cancel 1", expect="cancelled")
    await bot_api.wait_for(lambda a: any("document" in m for m in a.sent_messages(OWNER)))

    document = next(m for m in bot_api.sent_messages(OWNER) if "document" in m)
    assert "#1 Jane O'Hara" in document["caption"]
    text = PdfReader(io.BytesIO(bot_api.uploaded(document)[0])).pages[0].extract_text()
    assert "Jane O'Hara" in text and "Infusion cancelled" in text


async def test_a_summary_telegram_refuses_once_arrives_later_once(bot_app, bot_api, clock):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")
    bot_api.fail_next("sendDocument", status=502, description="Bad Gateway")

    await say(bot_api, OWNER, "/cancel 1", expect="cancelled")
    await bot_api.wait_for(lambda a: len(a.calls_to("sendDocument")) >= 1)
    await bot_app.alarm.wait_idle()
    refused = [m for m in bot_api.sent_messages(OWNER) if "document" in m]
    async with bot_app.sessions() as session:
        [row] = (await session.exec(select(Message).where(Message.step_key == "alert-summary"))).all()
    clock.set(row.send_at)
    await bot_app.dispatcher.run_due()
    await bot_api.wait_for(lambda a: any("document" in m for m in a.sent_messages(OWNER)))

    assert refused == [], "the first try was refused"
    assert row.status is MessageStatus.PENDING and row.attempts == 1, "kept in the outbox to go again"
    documents = [m for m in bot_api.sent_messages(OWNER) if "document" in m]
    assert len(documents) == 1 and "#1 Jane O'Hara" in documents[0]["caption"]
    assert PdfReader(io.BytesIO(bot_api.uploaded(documents[0])[0])).pages[0].extract_text()
