"""The dashboard in a real headless Chromium: signed in from the bot, a patient found, answered, moved, an alert taken.

Debian's chromium is driven through Playwright's ``executable_path``; no browser is downloaded.
Without it the test is skipped on a workstation and fails in CI (``CI=true``), where `.ci/run`
installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from messenger.domain.models import Infusion
from tests.bot.conftest import PATIENT, say
from tests.conftest import IN_CI
from tests.web.conftest import enrol_linked_patient, login_link

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


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


async def _screenshot(page: object, name: str) -> None:
    """Saved whole, then renamed: the run on each database may save at once (in parallel workers)."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    partial = SCREENSHOTS / f".{name}.{os.getpid()}"
    await page.screenshot(path=str(partial), full_page=True, type="png")
    partial.replace(SCREENSHOTS / name)


async def test_staff_work_a_patient_and_an_alert_from_the_browser(web_app, bot_api, browser):
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    await enrol_linked_patient(bot_api, "Pat Doe")
    await enrol_linked_patient(bot_api, "Sam Roe", user=PATIENT + 1)
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
    await expect(page.get_by_role("cell", name="We are calling you in five minutes.")).to_be_visible()
    await _screenshot(page, "dashboard-patient.png")

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
    await _screenshot(page, "dashboard-inbox.png")
    await page.get_by_role("button", name="I'm on it").click()
    await expect(page.get_by_text("You have taken the alert")).to_be_visible()
    await page.get_by_role("link", name="Inbox").click()
    await expect(page.get_by_text("No alert is waiting.")).to_be_visible()

    assert received["text"] == "Renew Ketamine Infusion: We are calling you in five minutes."
    async with web_app.sessions() as session:
        moved = (await session.exec(select(Infusion).where(Infusion.series_id == 1, Infusion.number == 2))).one()
    assert (moved.scheduled_at.day, moved.scheduled_at.hour, moved.scheduled_at.minute) == (6, 22, 30)
    assert refused_scripts == [], "the page breaks no rule of its own content security policy"
