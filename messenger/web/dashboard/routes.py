"""The dashboard's routes under ``/dashboard``, and its one stylesheet."""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from messenger.web.dashboard import actions, pages, series
from messenger.web.dashboard.access import HEADERS, PREFIX, DashboardDeps, guarded
from messenger.web.dashboard.pages import home, login_handler

__all__ = ["dashboard_routes"]

STYLESHEET = "dashboard.css"


def dashboard_routes(deps: DashboardDeps) -> list[BaseRoute]:
    stylesheet = files("messenger.web.dashboard").joinpath(STYLESHEET).read_bytes()

    async def style(_request: Request) -> Response:
        return Response(stylesheet, media_type="text/css", headers={**HEADERS, "Cache-Control": "max-age=3600"})

    views = {**pages.HANDLERS, **series.HANDLERS}

    def page(path: str, name: str) -> Route:
        return Route(f"{PREFIX}{path}", guarded(deps, views[name], audit_as=f"dashboard.view.{name}"), methods=["GET"])

    def post(path: str, handler: str) -> Route:
        source = actions.HANDLERS.get(handler) or pages.HANDLERS[handler]
        return Route(f"{PREFIX}{path}", guarded(deps, source), methods=["POST"])

    return [
        Route(PREFIX, home, methods=["GET"]),
        Route(f"{PREFIX}/{STYLESHEET}", style, methods=["GET"]),
        Route(f"{PREFIX}/login/{{token}}", login_handler(deps), methods=["GET"]),
        page("/patients", "patients"),
        page("/patients/{patient_id:int}", "patient"),
        page("/inbox", "inbox"),
        page("/agenda", "agenda"),
        page("/series", "series"),
        page("/series/{step}", "step"),
        post("/logout", "logout"),
        post("/patients/{patient_id:int}/reply", "reply"),
        post("/patients/{patient_id:int}/reschedule", "reschedule"),
        post("/patients/{patient_id:int}/attendance", "attendance"),
        post("/patients/{patient_id:int}/invite", "invite"),
        *(post(f"/patients/{{patient_id:int}}/{change}", "series_change") for change in ("pause", "resume", "cancel")),
        post("/alerts/{alert_id:int}/take", "take"),
    ]
