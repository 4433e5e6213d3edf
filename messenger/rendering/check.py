"""``messenger templates check``: render every template a series uses, in every locale, with sample data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from messenger.content import Capabilities, Flavour
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import StepKind
from messenger.domain.series import Step
from messenger.rendering.context import SAMPLE_NOTE_LINK, Clinic, sample_context
from messenger.rendering.discreet import sensitive_words_in
from messenger.rendering.environment import TemplateEnvironment, TemplateRenderError
from messenger.rendering.sms import sms_segments
from messenger.rendering.whatsapp import provider_template

# Every step needs these in the default locale; the other flavours fall back or are optional.
REQUIRED = (Flavour.TEXT, Flavour.TELEGRAM)
MAX_SMS_SEGMENTS = 2
# Templates the app sends outside any series definition, with the kind of step they stand for.
SYSTEM_TEMPLATES = {"reminder/moved": StepKind.REMINDER}


@dataclass(frozen=True, slots=True)
class CheckReport:
    rendered: int
    problems: list[str]
    lengths: dict[Flavour, int]
    # SMS texts by encoding and by segment count, e.g. {"GSM-7, 2 segments": 12}.
    sms: Counter[str]
    # Worth knowing, not failing: steps without a WhatsApp template where the clinic does not use WhatsApp.
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def locales(environment: TemplateEnvironment) -> list[str]:
    found = {Path(name).parts[0] for name in environment.template_files()}
    return sorted(found | {environment.default_locale})


def check_templates(
    environment: TemplateEnvironment,
    catalog: SeriesCatalog,
    clinic: Clinic,
    *,
    capabilities: Iterable[Capabilities],
    sensitive_words: Sequence[str] | None = None,
    whatsapp: bool = False,
) -> CheckReport:
    """Check every template against what the channels in ``capabilities`` carry.

    A flavour is held to the shortest ``max_length`` of the channels whose body it is, and what a
    discreet channel shows on a lock screen must not contain ``sensitive_words`` (the shipped list
    if None). Steps that would go to WhatsApp without a template are problems with ``whatsapp`` (the
    clinic sends on WhatsApp), notices without it.
    """
    rules = _Rules.of(capabilities, sensitive_words)
    problems: list[str] = []
    lengths: dict[Flavour, int] = {}
    sms: Counter[str] = Counter()
    notices: list[str] = []
    rendered = 0
    for name in environment.template_files():  # syntax of every file, used or not
        try:
            environment.compile(name)
        except TemplateRenderError as exc:
            problems.append(str(exc))
    for definition in catalog:
        extra = [
            (f"system:{template}", Step(key="system", kind=kind, template=template), 1)
            for template, kind in SYSTEM_TEMPLATES.items()
        ]
        for key, step, number in [*definition.expanded_steps(), *extra]:
            context = sample_context(definition, clinic=clinic, step_key=key, kind=step.kind, infusion_number=number)
            problems.extend(
                f"{environment.default_locale}/{step.template}.{flavour.value}.j2: "
                f"missing (series {definition.key!r}, step {key!r})"
                for flavour in REQUIRED
                if not environment.has(step.template, flavour, environment.default_locale)
            )
            for locale in locales(environment):
                for flavour in Flavour:
                    ref = _exact_file(environment, step.template, flavour, locale)
                    if ref is None:
                        continue
                    try:
                        text = environment.render_file(ref, context)
                    except TemplateRenderError as exc:
                        problems.append(str(exc))
                        continue
                    rendered += 1
                    lengths[flavour] = max(lengths.get(flavour, 0), len(text))
                    problems.extend(rules.problems(environment.source_path(ref), flavour, text, sms))
                    if flavour is Flavour.SMS and step.kind is StepKind.EDUCATION and SAMPLE_NOTE_LINK not in text:
                        problems.append(
                            f"{environment.source_path(ref)}: carries no {{{{ note_link }}}}, the only way an SMS "
                            "patient can read the note"
                        )
            problems.extend(_whatsapp_problems(definition.key, key, step, context))
        without = _without_whatsapp(definition.key, definition.steps, locales(environment))
        (problems if whatsapp else notices).extend(without)
    return CheckReport(
        rendered=rendered, problems=list(dict.fromkeys(problems)), lengths=lengths, sms=sms, notices=notices
    )


def _whatsapp_problems(series: str, key: str, step: Step, context: Mapping[str, Any]) -> list[str]:
    """Each of the step's WhatsApp templates must find a value for every variable it maps."""
    found = []
    for locale in step.whatsapp:
        try:
            provider_template(step.whatsapp, [locale], context, source=f"series {series!r} step {key!r}")
        except TemplateRenderError as exc:
            found.append(str(exc))
    return found


def _without_whatsapp(series: str, steps: Iterable[Step], all_locales: Sequence[str]) -> list[str]:
    """Steps that would go to WhatsApp as free text only: outside the 24-hour window, WhatsApp refuses them."""
    found = []
    for step in steps:
        missing = [locale for locale in all_locales if locale not in step.whatsapp]
        if missing:
            found.append(
                f"series {series!r}, step {step.key!r}: no WhatsApp template for {', '.join(missing)} "
                "(outside the 24-hour window WhatsApp refuses free text)"
            )
    return found


def _exact_file(environment: TemplateEnvironment, template: str, flavour: Flavour, locale: str) -> str | None:
    """The file for exactly this locale (no fallback), if it exists."""
    ref = environment.resolve(template, flavour, locale)
    return ref.name if ref is not None and ref.locale == locale else None


@dataclass(frozen=True, slots=True)
class _Rules:
    """What a rendered text must respect, from the channels' declared capabilities."""

    max_length: dict[Flavour, int]
    # The flavours a discreet channel shows on a lock screen.
    discreet: frozenset[Flavour]
    sensitive_words: Sequence[str] | None

    @classmethod
    def of(cls, capabilities: Iterable[Capabilities], sensitive_words: Sequence[str] | None) -> _Rules:
        max_length: dict[Flavour, int] = {}
        discreet: set[Flavour] = set()
        for capability in capabilities:
            max_length[capability.body] = min(
                capability.max_length, max_length.get(capability.body, capability.max_length)
            )
            if capability.discreet:
                discreet.add(capability.lock_screen)
        return cls(max_length, frozenset(discreet), sensitive_words)

    def problems(self, path: str, flavour: Flavour, text: str, sms: Counter[str]) -> list[str]:
        """What is wrong with ``text``, the rendering of ``path``; counts SMS texts into ``sms``."""
        found: list[str] = []
        limit = self.max_length.get(flavour)
        if limit is not None and len(text) > limit:
            found.append(f"{path}: renders to {len(text)} characters, more than {limit}")
        if flavour in self.discreet and (words := sensitive_words_in(text, self.sensitive_words)):
            found.append(
                f"{path}: shows {', '.join(repr(w) for w in words)} on a discreet channel (lock screens show it)"
            )
        if flavour is Flavour.SMS:
            segments = sms_segments(text)
            sms[f"{segments.encoding}, {segments.segments} segment(s)"] += 1
            if segments.segments > MAX_SMS_SEGMENTS:
                found.append(
                    f"{path}: {segments.segments} SMS segments ({segments.encoding}, "
                    f"{segments.length} characters); keep it to {MAX_SMS_SEGMENTS}"
                )
        return found
