"""Signing in to the dashboard: a link from the bot works once and briefly; everything else is refused."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlmodel import select

from messenger.domain.models import AuditEvent, ConversationEntry, DashboardLogin, DashboardSession
from tests.bot.conftest import OWNER, STAFF, STRANGER, say
from tests.web.conftest import enrol_linked_patient, login_link

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(follow_redirects=False, timeout=10)


async def signed_in(http: httpx.AsyncClient, link: str) -> str:
    """Open ``link``; returns the CSRF token of the patients page it leads to."""
    opened = await http.get(link)
    assert opened.status_code == 303, opened.text
    page = await http.get(
        opened.headers["location"] if "://" in opened.headers["location"] else _base(link) + opened.headers["location"]
    )
    assert page.status_code == 200, page.text
    match = _CSRF.search(page.text)
    assert match
    return match.group(1)


def _base(link: str) -> str:
    return link.split("/dashboard/", 1)[0]


async def _actions(app) -> list[str]:
    async with app.sessions() as session:
        return [e.action for e in (await session.exec(select(AuditEvent).order_by(AuditEvent.id))).all()]


async def test_a_link_from_the_bot_opens_a_session_once_with_a_strict_cookie(web_app, bot_api):
    await enrol_linked_patient(bot_api)
    link = await login_link(bot_api)

    async with client() as http:
        opened = await http.get(link)
        page = await http.get(_base(link) + "/dashboard/patients")
    async with client() as other:
        again = await other.get(link)
        refused = await other.get(_base(link) + "/dashboard/patients")

    assert opened.status_code == 303 and opened.headers["location"] == "/dashboard/patients"
    cookie = opened.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
    assert "secure" not in cookie, "Secure only when the public URL is https"
    assert "max-age=43200" in cookie
    assert page.status_code == 200 and "Pat Doe" in page.text
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy and "script-src" not in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert again.status_code == 403 and "already used" in again.text
    assert refused.status_code == 401
    actions = await _actions(web_app)
    assert {"dashboard.link", "dashboard.sign_in", "dashboard.view.patients"} <= set(actions)
    assert actions.count("dashboard.refused") == 1
    async with web_app.sessions() as session:
        login = (await session.exec(select(DashboardLogin))).one()
        stored = (await session.exec(select(DashboardSession))).one()
    assert login.token_hash not in link and link.rsplit("/", 1)[1] not in login.token_hash
    assert stored.staff_user_id == OWNER and stored.token_hash not in opened.headers["set-cookie"]


async def test_an_expired_link_is_refused(web_app, bot_api, clock):
    link = await login_link(bot_api)
    clock.advance(timedelta(minutes=10, seconds=1))

    async with client() as http:
        opened = await http.get(link)

    assert opened.status_code == 403
    async with web_app.sessions() as session:
        assert (await session.exec(select(DashboardSession))).all() == []
        refusal = (await session.exec(select(AuditEvent).where(AuditEvent.action == "dashboard.refused"))).one()
    assert refusal.detail == {"reason": "expired"}


async def test_a_session_ends_after_its_hours(web_app, bot_api, clock):
    link = await login_link(bot_api)
    async with client() as http:
        await signed_in(http, link)
        clock.advance(timedelta(hours=12, seconds=1))
        late = await http.get(_base(link) + "/dashboard/inbox")

    assert late.status_code == 401


async def test_a_forged_or_missing_cookie_opens_nothing(web_app, bot_api):
    link = await login_link(bot_api)
    base = _base(link)

    async with client() as http:
        none = await http.get(base + "/dashboard/patients")
        http.cookies.set("dashboard_session", "x" * 43)
        forged = await http.get(base + "/dashboard/patients")
        post = await http.post(base + "/dashboard/patients/1/pause")

    assert none.status_code == forged.status_code == post.status_code == 401
    assert "Send /dashboard to the bot" in forged.text


async def test_a_post_without_the_session_csrf_token_is_refused_and_changes_nothing(web_app, bot_api):
    await enrol_linked_patient(bot_api)
    link = await login_link(bot_api)

    async with client() as http:
        csrf = await signed_in(http, link)
        missing = await http.post(_base(link) + "/dashboard/patients/1/reply", data={"text": "Hello"})
        wrong = await http.post(_base(link) + "/dashboard/patients/1/reply", data={"text": "Hello", "csrf": "0" * 64})

    assert missing.status_code == wrong.status_code == 403
    assert "nothing was done" in missing.text and csrf not in wrong.text
    async with web_app.sessions() as session:
        assert (await session.exec(select(ConversationEntry))).all() == []
        refusals = (await session.exec(select(AuditEvent).where(AuditEvent.action == "dashboard.refused"))).all()
    assert [r.detail["reason"] for r in refusals] == ["csrf", "csrf"]


async def test_a_removed_staff_member_is_signed_out_at_once(web_app, bot_api):
    await say(bot_api, OWNER, f"/staff add {STAFF}", expect="staff")
    link = await login_link(bot_api, STAFF)
    async with client() as http:
        await signed_in(http, link)
        await say(bot_api, OWNER, f"/staff remove {STAFF}", expect="no longer staff")
        after = await http.get(_base(link) + "/dashboard/patients")

    assert after.status_code == 401
    async with web_app.sessions() as session:
        stored = (await session.exec(select(DashboardSession))).one()
    assert stored.ended_at is not None


async def test_only_staff_get_a_link_and_a_preview_robot_does_not_spend_it(web_app, bot_api):
    stranger = await say(bot_api, STRANGER, "/dashboard")
    link = await login_link(bot_api)

    async with client() as http:
        robot = await http.get(link, headers={"User-Agent": "TelegramBot (like TwitterBot)"})
        person = await http.get(link)

    assert "/dashboard/login/" not in stranger["text"]
    assert robot.status_code == 200, "a robot's visit gets the neutral page"
    assert person.status_code == 303
    sent = bot_api.calls_to("sendMessage")[-1]
    assert "link_preview_options" in sent.params
