"""/healthz and /metrics see Telegram through the real bot's own calls to the Bot API."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from messenger.app import build_app
from messenger.clock import ManualClock
from tests.bot.conftest import bot_settings
from tests.conftest import T0
from tests.fakes.bot_api import FakeBotApi


async def test_health_and_metrics_report_telegrams_last_answer(
    bot_api: FakeBotApi, database_url: str, clock: ManualClock
) -> None:
    app = build_app(bot_settings(bot_api, database_url, http_port=0), clock=clock, serve_http=True)
    await app.start()
    try:
        assert app.web is not None
        async with httpx.AsyncClient(base_url=app.web.url) as http:
            health = await http.get("/healthz")
            metrics = await http.get("/metrics")
    finally:
        await app.stop()

    assert health.status_code == 200
    assert health.json()["telegram"] == "ok"
    assert health.json()["telegram_last_ok"] == "2026-11-30T20:00:00Z"  # getMe at start, on the app's clock
    values = {s.name: s.value for f in text_string_to_metric_families(metrics.text) for s in f.samples}
    assert values["messenger_telegram_last_success_timestamp_seconds"] == T0.timestamp()
