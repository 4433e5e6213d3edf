"""The Telegram command menu reads from the clinic's strings, so a clinic can reword or translate it."""

from __future__ import annotations

from pathlib import Path

from messenger.app import build_app
from messenger.clock import ManualClock
from tests.bot.conftest import bot_settings
from tests.fakes.bot_api import FakeBotApi

OVERRIDE = """
[menu]
schedule = "When my infusions are"
stop = "No more messages"
resume = "Messages again"
help = "Help"
"""


async def test_the_menu_is_set_from_the_strings_at_start(
    bot_api: FakeBotApi, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "bot.toml").write_text(OVERRIDE, encoding="utf-8")
    app = build_app(bot_settings(bot_api, database_url, templates_dir=tmp_path), clock=clock)
    await app.start()
    app.alarm.scheduler.pause()
    try:
        menus = list(bot_api.commands.values())
    finally:
        await app.stop()

    assert menus == [
        [
            {"command": "schedule", "description": "When my infusions are"},
            {"command": "stop", "description": "No more messages"},
            {"command": "resume", "description": "Messages again"},
            {"command": "help", "description": "Help"},
        ]
    ]
