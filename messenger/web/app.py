"""``/healthz`` and ``/metrics``; the channels' webhook routes are appended by the caller.

The health answer names the part that failed and nothing else: a probe's response is
read by load balancers and dashboards, so it never carries an exception's text or a
database URL (the log gets the detail, redacted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from messenger.bot.reachability import TelegramReachability, TelegramState
from messenger.db import SessionFactory
from messenger.observability.metrics import Metrics

__all__ = ["HealthCheck", "HealthReport", "create_web_app"]

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class HealthReport:
    database: str  # "ok" | "unreachable"
    scheduler: str  # "running" | "stopped"
    telegram: TelegramState = TelegramState.OFF
    # When Telegram last answered a call of this process (None: not yet, or Telegram off).
    telegram_last_ok: datetime | None = None

    @property
    def healthy(self) -> bool:
        return self.database == "ok" and self.scheduler == "running" and self.telegram is not TelegramState.UNREACHABLE

    def as_dict(self) -> dict[str, str]:
        report = {
            "status": "ok" if self.healthy else "unhealthy",
            "database": self.database,
            "scheduler": self.scheduler,
            "telegram": self.telegram.value,
        }
        if self.telegram_last_ok is not None:
            report["telegram_last_ok"] = self.telegram_last_ok.isoformat().replace("+00:00", "Z")
        return report


class HealthCheck:
    """The database answers ``SELECT 1`` within ``timeout`` seconds, the scheduler runs, and
    Telegram (if on) has not been failing for longer than ``telegram_grace``."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        scheduler_running: Callable[[], bool],
        timeout: float = 2.0,
        telegram: TelegramReachability | None = None,
        telegram_grace: timedelta = timedelta(minutes=2),
    ) -> None:
        self.sessions = sessions
        self.scheduler_running = scheduler_running
        self.timeout = timeout
        self.telegram = telegram
        self.telegram_grace = telegram_grace
        self._database_was_ok = True

    async def check(self) -> HealthReport:
        database_ok = await self.database_ok()
        try:
            running = bool(self.scheduler_running())
        except Exception:
            log.exception("health check: could not tell whether the scheduler runs")
            running = False
        telegram = self.telegram
        return HealthReport(
            database="ok" if database_ok else "unreachable",
            scheduler="running" if running else "stopped",
            telegram=TelegramState.OFF if telegram is None else telegram.state(grace=self.telegram_grace),
            telegram_last_ok=None if telegram is None else telegram.last_ok,
        )

    async def database_ok(self) -> bool:
        try:
            await asyncio.wait_for(self._select_one(), self.timeout)
        except Exception as exc:
            # Probes come every few seconds: log the change, not every failed probe.
            if self._database_was_ok:
                reason = "no answer" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
                log.warning("health check: database unreachable (%s)", reason)
            self._database_was_ok = False
            return False
        if not self._database_was_ok:
            log.info("health check: database reachable again")
        self._database_was_ok = True
        return True

    async def _select_one(self) -> None:
        async with self.sessions() as session:
            connection = await session.connection()
            await connection.execute(text("SELECT 1"))


def create_web_app(*, health: HealthCheck, metrics: Metrics | None, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """``GET /healthz`` (200 or 503 naming the failing part) and, with ``metrics``, ``GET /metrics``."""

    async def healthz(_request: Request) -> Response:
        report = await health.check()
        return JSONResponse(report.as_dict(), status_code=200 if report.healthy else 503, headers=NO_STORE)

    own: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"], name="healthz")]
    if metrics is not None:

        async def metrics_endpoint(_request: Request) -> Response:
            await metrics.refresh()
            body, content_type = metrics.exposition()
            return Response(body, headers={"Content-Type": content_type, **NO_STORE})

        own.append(Route("/metrics", metrics_endpoint, methods=["GET"], name="metrics"))
    return Starlette(routes=[*own, *routes])
