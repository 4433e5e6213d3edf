"""The dashboard in a real headless Chromium: signed in from the bot, a patient found, answered, moved, an alert taken.

Debian's chromium is driven through Playwright's ``executable_path``; no browser is downloaded.
Without it the test is skipped on a workstation and fails in CI (``CI=true``), where `.ci/run`
installs it.

Screenshots of the patient page and the inbox go to the test's temporary folder, or to
``MESSENGER_SCREENSHOTS_DIR`` when it is set (``docs/screenshots`` to refresh the README's).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from messenger.app import App
from messenger.domain.models import Infusion, Series
from tests.bot.conftest import PATIENT, say
from tests.conftest import IN_CI
from tests.factories import record_checkins, run_until
from tests.web.conftest import enrol_linked_patient, login_link

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS_DIR = "MESSENGER_SCREENSHOTS_DIR"


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not Path(CHROMIUM).is_file():
        message = "Chromium is not installed (apt-get install chromium); .ci/run installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the screenshots go: the test's own folder, unless the run asks for a lasting one."""
    wanted = os.environ.get(SCREENSHOTS_DIR)
    return Path(wanted) if wanted else tmp_path


async def _screenshot(page: object, folder: Path, name: str) -> None:
    """Saved whole, then renamed: the run on each database may save at once (in parallel workers)."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.{os.getpid()}"
    await page.screenshot(path=str(partial), full_page=True, type="png")
    partial.replace(folder / name)


async def _first_days_with_answers(app: App) -> None:
    """The series runs to the day after infusion 1, and Pat Doe answers the baseline and first check-ins."""
    async with app.sessions() as session:
        series = (await session.exec(select(Series).where(Series.patient_id == 1))).one()
        first = (await session.exec(select(Infusion).where(Infusion.series_id == 1, Infusion.number == 1))).one()
    day, hour = timedelta(days=1), timedelta(hours=1)
    await run_until(app, first.scheduled_at + day + 2 * hour)
    await record_checkins(
        app,
        series,
        [(0, 7, 2, False, first.scheduled_at - day + 2 * hour), (1, 4, 4, False, first.scheduled_at + day + hour)],
    )


async def test_staff_work_a_patient_and_an_alert_from_the_browser(web_app, bot_api, browser, screenshots):
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    await enrol_linked_patient(bot_api, "Pat Doe")
    await enrol_linked_patient(bot_api, "Sam Roe", user=PATIENT + 1)
    await _first_days_with_answers(web_app)
    await say(bot_api, PATIENT + 1, "Where do I park on Friday?")
    await say(bot_api, PATIENT, "Is it normal to feel dizzy tonight? I have chest pain", expect="911")
    link = await login_link(bot_api)
    page = await (await browser.new_context(viewport={"width": 1100, "height": 900})).new_page()
    refused_scripts: list[str] = []
    page.on("console", lambda message: refused_scripts.append(message.text) if message.type == "error" else None)

    await page.goto(link)
    await expect(page).to_have_url(f"{web_app.settings.public_url}/dashboard/patients")
    await page.get_by_label("Name or number").fill("Pat")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("link", name="Sam Roe")).to_have_count(0)
    await page.get_by_role("link", name="Pat Doe").click()
    await expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    await expect(page.get_by_text("welcome", exact=True)).to_be_visible()

    await page.get_by_label("Reply to Pat Doe").fill("We are calling you in five minutes.")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_text("Your reply to Pat Doe is on its way by telegram.")).to_be_visible()
    received = await bot_api.wait_for_message(PATIENT, contains="We are calling you in five minutes.")
    await page.get_by_role("link", name="Back").click()
    await expect(page.locator("p.out", has_text="We are calling you in five minutes.")).to_be_visible()
    await expect(page.get_by_role("img", name="Pain and mood at each check-in")).to_be_visible()
    note = page.locator("details", has_text="As sent on telegram").filter(has_text="What is chronic pain?")
    await expect(note.locator("pre")).to_be_hidden()
    await note.locator("summary").click()
    await expect(note.locator("pre")).to_contain_text("Chronic pain is pain that lasts more than three months")
    reply = page.locator("details", has_text="We are calling you in five minutes.")
    await reply.locator("summary").click()
    await expect(reply.locator("pre")).to_have_text("Renew Ketamine Infusion: We are calling you in five minutes.")
    await _screenshot(page, screenshots, "dashboard-patient.png")

    await page.get_by_label("Infusion", exact=True).select_option("2")
    await page.get_by_label("New time").fill("2026-12-06T14:30")
    await page.get_by_role("button", name="Preview the move").click()
    await expect(
        page.get_by_role("heading", name="Move infusion 2 of Pat Doe to Sun, Dec 6, 2026, 2:30 PM PST?")
    ).to_be_visible()
    await expect(page.get_by_role("cell", name="reminder-day-2")).to_be_visible()
    await page.get_by_role("button", name="Confirm the move").click()
    await expect(page.get_by_text("moved")).to_be_visible()

    await page.get_by_role("link", name="Inbox").click()
    await expect(page.get_by_role("button", name="I'm on it")).to_be_visible()
    await expect(page.get_by_role("cell", name="Sam Roe (#2)")).to_be_visible()
    await _screenshot(page, screenshots, "dashboard-inbox.png")
    await page.get_by_role("button", name="I'm on it").click()
    await expect(page.get_by_text("You have taken the alert")).to_be_visible()
    await page.get_by_role("link", name="Inbox").click()
    await expect(page.get_by_text("No alert is waiting.")).to_be_visible()

    assert received["text"] == "Renew Ketamine Infusion: We are calling you in five minutes."
    async with web_app.sessions() as session:
        moved = (await session.exec(select(Infusion).where(Infusion.series_id == 1, Infusion.number == 2))).one()
    assert (moved.scheduled_at.day, moved.scheduled_at.hour, moved.scheduled_at.minute) == (6, 22, 30)
    assert refused_scripts == [], "the page breaks no rule of its own content security policy"
