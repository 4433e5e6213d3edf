"""Notes by link: an SMS patient's education text carries a signed, expiring link to the note's own page."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
from sqlmodel import select

from messenger.domain.enums import ChannelName
from messenger.domain.models import AuditEvent
from messenger.rendering.discreet import sensitive_words_in
from messenger.rendering.sms import sms_segments
from tests.factories import enrol_patient, messages_of, run_until
from tests.inbound.support import (
    CLINIC_PHONE,
    PATIENT_PHONE,
    SIGNING_SECRET,
    WAIT,
    inbound_settings,
    running_app,
)

STEP = "edu-what-is-chronic-pain"
# The first line of that note, as its template has it.
HEADLINE = "What is chronic pain?"


class _Head(HTMLParser):
    """The page's <title>, its OpenGraph and description metadata, and its visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.title, self.meta, self.text = "", {}, []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and (values.get("property") or values.get("name")):
            self.meta[values.get("property") or values.get("name")] = values.get("content") or ""
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in not in {"style", "script"} and data.strip():
            self.text.append(data.strip())


def _parse(html: str) -> _Head:
    head = _Head()
    head.feed(html)
    return head


async def _get(
    url: str, *, agent: str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", language: str = "en-US"
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=WAIT) as http:
        return await http.get(url, headers={"User-Agent": agent, "Accept-Language": language})


async def _sms_link(app, twilio, series_id: int) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Run the series up to the first note; return that SMS's text and the link in it."""
    note = (await messages_of(app, series_id))[STEP]
    await run_until(app, note.send_at)
    note = (await messages_of(app, series_id))[STEP]
    [sms] = [m for m in twilio.messages if m.sid == note.provider_id]
    links = re.findall(r"https?://\S+", sms.body)
    assert len(links) == 1, sms.body
    return sms.body, links[0]


async def test_an_sms_patient_reads_the_note_through_its_link(database_url, clock, twilio):
    settings = inbound_settings(database_url, twilio=twilio, public=True, signing_secret=SIGNING_SECRET)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        text, link = await _sms_link(app, twilio, series.id)
        unread = (await messages_of(app, series.id))[STEP].read_at
        page = await _get(link)
        read = (await messages_of(app, series.id))[STEP].read_at
        clock.advance(timedelta(hours=1))
        again = await _get(link)
        async with app.sessions() as session:
            opened = (await session.exec(select(AuditEvent).where(AuditEvent.action == "note_opened"))).all()

    # The text: discreet, one or two segments, nothing but the clinic's phone and the link.
    assert text.startswith("Your care team sent a note: ")
    assert sensitive_words_in(text) == []
    assert sms_segments(text).segments <= 2
    assert link.startswith(f"{settings.public_url}/n/")
    # The URL names nothing: no patient, no step, no topic, no number.
    token = urlsplit(link).path.removeprefix("/n/")
    for secret in ("Jane", "Doe", PATIENT_PHONE.lstrip("+"), "chronic", "pain", "edu", STEP):
        assert secret.lower() not in link.lower().replace(settings.public_url or "", "")
    assert len(token) < 60, token

    assert page.status_code == 200
    head = _parse(page.text)
    body = " ".join(head.text)
    assert HEADLINE in body, body  # the note itself, from the same template
    assert "Renew Ketamine Infusion" in body and CLINIC_PHONE in body
    # What a lock screen or a link preview shows says nothing medical.
    assert head.title == "A message for you"
    assert head.meta["og:title"] == "A message for you"
    for shown in (head.title, *head.meta.values()):
        assert sensitive_words_in(shown) == [], shown
    assert "noindex" in head.meta["robots"]
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"

    # The first opening is the read receipt; every opening is audited.
    assert unread is None
    assert read == clock.now() - timedelta(hours=1)
    assert again.status_code == 200
    patient = f"patient:{series.patient_id}"
    assert [(e.actor, e.detail["first"]) for e in opened] == [(patient, True), (patient, False)]


async def test_tampered_expired_and_previewed_links(database_url, clock, twilio):
    settings = inbound_settings(database_url, twilio=twilio, public=True, signing_secret=SIGNING_SECRET)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        _text, link = await _sms_link(app, twilio, series.id)
        payload, expiry, mac = urlsplit(link).path.removeprefix("/n/").split(".")
        base = f"{settings.public_url}/n/"
        other = "bjE" if payload != "bjE" else "bjI"  # "n1" / "n2": another row, with the old MAC
        forged = {
            "changed MAC": f"{base}{payload}.{expiry}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
            "other message": f"{base}{other}.{expiry}.{mac}",
            "later expiry": f"{base}{payload}.{int(expiry) + 86400}.{mac}",
            "garbage": f"{base}not-a-token",
        }
        tampered = {label: await _get(url) for label, url in forged.items()}
        preview = await _get(link, agent="WhatsApp/2.23.20.0 A")
        unfurl = await _get(link, agent="facebookexternalhit/1.1 Facebot Twitterbot/1.0")
        still_unread = (await messages_of(app, series.id))[STEP].read_at
        clock.advance(timedelta(days=30, seconds=1))
        expired = await _get(link)
        expired_unread = (await messages_of(app, series.id))[STEP].read_at

    for label, page in [*tampered.items(), ("expired", expired)]:
        assert page.status_code == 404, label
        body = " ".join(_parse(page.text).text)
        assert "this link has expired or is not valid" in body, (label, body)
        assert CLINIC_PHONE in body, label
        assert "Traceback" not in page.text and HEADLINE not in body, label
    # Link previews get the neutral shell only, and are not the patient reading.
    for page in (preview, unfurl):
        assert page.status_code == 200
        body = " ".join(_parse(page.text).text)
        assert HEADLINE not in body and CLINIC_PHONE not in body
    assert still_unread is None and expired_unread is None


async def test_a_spanish_patient_gets_the_page_in_spanish(database_url, clock, twilio):
    settings = inbound_settings(database_url, twilio=twilio, public=True, signing_secret=SIGNING_SECRET)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, name="Ana López", locale="es", contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        _text, link = await _sms_link(app, twilio, series.id)
        page = await _get(link)
        clock.advance(timedelta(days=31))
        expired = await _get(link, language="es-US,es;q=0.9,en;q=0.5")

    head = _parse(page.text)
    assert '<html lang="es">' in page.text
    assert head.title == "Un mensaje para usted" and head.meta["og:title"] == "Un mensaje para usted"
    assert "Llamar al " + CLINIC_PHONE in " ".join(head.text)
    # An expired link no longer says whose it was: its page speaks the browser's language.
    assert "Lo sentimos, este enlace ha vencido o no es válido." in " ".join(_parse(expired.text).text)
