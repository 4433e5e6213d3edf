"""E-mail end to end: reminders carry the infusion as a calendar entry that follows a reschedule, and every
message has a one-click unsubscribe link that only a POST acts on."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from messenger.channels.signing import sign_token
from messenger.db import transaction
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.rendering.discreet import sensitive_words_in
from messenger.services.audit import staff_actor
from messenger.services.changes import load_series, reschedule_infusion
from tests.conftest import T0
from tests.factories import LA, OWNER, enrol_patient, local, messages_of, run_until
from tests.inbound.support import (
    CLINIC_PHONE,
    PATIENT_EMAIL,
    SIGNING_SECRET,
    WAIT,
    contact,
    inbound_settings,
    invitation,
    running_app,
    sent_rows,
)

FIRST = local(LA, 2026, 12, 2, 10, 0)
MOVED = local(LA, 2026, 12, 2, 14, 0)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


async def _reschedule(app, series_id: int, number: int, at: datetime) -> None:
    async with transaction(app.sessions) as session:
        series = await load_series(session, series_id)
        await reschedule_infusion(
            session=session,
            catalog=app.catalog,
            clock=app.clock,
            quiet_hours=app.quiet_hours,
            series=series,
            number=number,
            at=at,
            actor=staff_actor(OWNER),
        )


async def test_the_calendar_entry_follows_a_rescheduled_infusion(database_url, clock, smtp):
    settings = inbound_settings(database_url, smtp=smtp, public=True, signing_secret=SIGNING_SECRET)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, first=FIRST, contacts=[(ChannelName.EMAIL, PATIENT_EMAIL)])
        eve = (await messages_of(app, series.id))["reminder-eve-1"]
        await run_until(app, eve.send_at)
        before = len(smtp.messages)

        clock.advance(timedelta(minutes=10))
        await _reschedule(app, series.id, 1, MOVED)
        await app.dispatcher.run_due()
        notice = (await smtp.wait_for(before + 1, timeout=WAIT))[before]
        day = (await messages_of(app, series.id))["reminder-day-1"]
        await run_until(app, day.send_at)
        mails = await smtp.wait_for(before + 2, timeout=WAIT)
        by_provider = await sent_rows(app)

    steps = {mail["Message-ID"]: by_provider[mail["Message-ID"]].step_key for mail in mails}
    by_step = {steps[mail["Message-ID"]]: mail for mail in mails}
    uid = f"infusion-{series.id}-1@messenger"
    first = invitation(by_step["reminder-eve-1"])
    moved = invitation(notice)
    later = invitation(by_step["reminder-day-1"])
    assert first is not None and moved is not None and later is not None
    assert first[0] == moved[0] == later[0] == uid
    assert first[2] == FIRST
    assert moved[2] == later[2] == MOVED
    assert first[1] < moved[1] < later[1]
    assert steps[notice["Message-ID"]] == "moved-1-1"
    # Only reminders carry an invitation; education does not.
    assert invitation(by_step["welcome"]) is None and invitation(by_step["edu-imaging"]) is None
    # An inbox shows the subject: nothing medical in any of them.
    assert {m["Subject"]: sensitive_words_in(m["Subject"]) for m in mails} == {m["Subject"]: [] for m in mails}


async def test_two_reschedules_within_a_minute_still_raise_the_sequence(database_url, clock, smtp):
    settings = inbound_settings(database_url, smtp=smtp)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, first=FIRST, contacts=[(ChannelName.EMAIL, PATIENT_EMAIL)])
        await app.dispatcher.run_due()
        await smtp.wait_for(1, timeout=WAIT)  # the welcome

        await _reschedule(app, series.id, 1, MOVED)  # a typo: the clinic meant 15:00
        await app.dispatcher.run_due()
        clock.advance(timedelta(seconds=20))
        await _reschedule(app, series.id, 1, MOVED + timedelta(hours=1))
        await app.dispatcher.run_due()
        mails = await smtp.wait_for(3, timeout=WAIT)

    wrong, right = invitation(mails[1]), invitation(mails[2])
    assert wrong is not None and right is not None
    assert (wrong[2], right[2]) == (MOVED, MOVED + timedelta(hours=1))
    assert right[1] > wrong[1], f"the corrected time has SEQUENCE {right[1]}, the wrong one {wrong[1]}"


async def test_one_click_unsubscribe(database_url, clock, smtp, bot_api):
    settings = inbound_settings(database_url, smtp=smtp, bot_api=bot_api, public=True, signing_secret=SIGNING_SECRET)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, first=FIRST, contacts=[(ChannelName.EMAIL, PATIENT_EMAIL)])
        await app.dispatcher.run_due()
        [welcome] = await smtp.wait_for(1, timeout=WAIT)
        email = await contact(app, ChannelName.EMAIL)
        link = welcome["List-Unsubscribe"].removeprefix("<").removesuffix(">")
        token = urlsplit(link).path.rpartition("/")[2]
        forged = {
            "changed-mac": token[:-1] + ("A" if token[-1] != "A" else "B"),
            "other-contact": _b64(f"c{email.id + 1}") + token[token.index(".") :],
            "other-secret": sign_token(b"a secret that is not the clinic's", f"c{email.id}", T0 + timedelta(days=9)),
            "expired": sign_token(SIGNING_SECRET.encode(), f"c{email.id}", T0 - timedelta(seconds=1)),
            "not-a-token": "hello",
        }

        async with httpx.AsyncClient(timeout=WAIT) as http:
            looked_at = await http.get(link)
            after_get = await contact(app, ChannelName.EMAIL)
            refused = {
                name: await http.post(link.replace(token, bad), data={"List-Unsubscribe": "One-Click"})
                for name, bad in forged.items()
            }
            after_forgeries = await contact(app, ChannelName.EMAIL)
            clicked = await http.post(link, data={"List-Unsubscribe": "One-Click"})
            clicked_again = await http.post(link, data={"List-Unsubscribe": "One-Click"})
        after_post = await contact(app, ChannelName.EMAIL)
        alert = await bot_api.wait_for_message(OWNER, contains="stopped messages on email", timeout=WAIT)
        await run_until(app, T0 + timedelta(hours=3))
        rows = await messages_of(app, series.id)

    assert link.startswith(f"{settings.public_url}/unsubscribe/")
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert looked_at.status_code == 200
    assert "Stop all e-mails from your care team?" in looked_at.text and '<form method="post">' in looked_at.text
    assert after_get.opted_out is False, "a link scanner's GET must not unsubscribe"
    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(forged, 400)
    assert all(
        f"This link has expired or is not valid. To stop e-mails, call {CLINIC_PHONE}." in r.text
        for r in refused.values()
    )
    assert after_forgeries.opted_out is False
    assert (clicked.status_code, clicked_again.status_code) == (200, 200)
    assert "you will not receive any more e-mails from us" in clicked.text
    assert (after_post.opted_out, after_post.status_reason) == (True, "one-click unsubscribe")
    assert "Jane Doe" in alert["text"]
    assert len([m for m in bot_api.sent_messages(OWNER) if "stopped messages" in m["text"]]) == 1
    assert rows["edu-what-is-chronic-pain"].status is MessageStatus.SKIPPED
    assert len(smtp.messages) == 1


async def test_no_unsubscribe_headers_without_a_signing_secret(database_url, clock, smtp):
    settings = inbound_settings(database_url, smtp=smtp, public=True)
    async with running_app(settings, clock) as app:
        await enrol_patient(app, first=FIRST, contacts=[(ChannelName.EMAIL, PATIENT_EMAIL)])
        await app.dispatcher.run_due()
        [welcome] = await smtp.wait_for(1, timeout=WAIT)

    assert welcome["List-Unsubscribe"] is None and welcome["List-Unsubscribe-Post"] is None
