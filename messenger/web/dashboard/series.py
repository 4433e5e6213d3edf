"""The series page: each step with its timing, and each step's templates as a patient would read them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from messenger.content import Flavour
from messenger.rendering.context import sample_context
from messenger.services.errors import ServiceError
from messenger.web.dashboard.access import DashboardDeps, Handler, Visit


async def series(deps: DashboardDeps, _request: Request, visit: Visit) -> Response:
    definition = deps.catalog.get(deps.settings.default_series)
    steps = [
        {
            "key": key,
            "kind": step.kind.value,
            # Written as in the series file: "-1d", "2h30m".
            "offset": str(step.offset),
            "at": f"{step.at:%H:%M}" if step.at else None,
            "quiet": step.quiet.value,
            "infusion": number,
        }
        for key, step, number in definition.expanded_steps()
    ]
    return deps.page("series", key=definition.key, steps=steps, csrf=visit.csrf)


async def step_preview(deps: DashboardDeps, request: Request, visit: Visit) -> Response:
    """Every flavour of one step's template in one language, rendered with sample data."""
    definition = deps.catalog.get(deps.settings.default_series)
    steps = {key: (step, number) for key, step, number in definition.expanded_steps()}
    key = request.path_params["step"]
    if key not in steps:
        raise ServiceError("dashboard.no_step")
    languages = deps.templates.locales()
    language = request.query_params.get("lang", deps.locale)
    language = language if language in languages else deps.locale
    step, number = steps[key]
    sample = sample_context(
        definition, clinic=deps.clinic, step_key=key, kind=step.kind, infusion_number=number, language=language
    )
    flavours = [
        {"flavour": flavour.value, "text": deps.templates.render(step.template, flavour, language, sample)}
        for flavour in Flavour
        if deps.templates.has(step.template, flavour, language)
    ]
    return deps.page(
        "step",
        step=key,
        template=step.template,
        lang_shown=language,
        languages=languages,
        flavours=flavours,
        csrf=visit.csrf,
    )


HANDLERS: dict[str, Handler] = {"series": series, "step": step_preview}
