"""``messenger templates check``: render every template a series uses, in every locale, with sample data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from messenger.domain.enums import StepKind
from messenger.domain.series import SeriesCatalog, Step
from messenger.rendering.context import Clinic, sample_context
from messenger.rendering.coverage import REMINDER_VARS, hard_coded_vars, missing_translations, sentinel_vars
from messenger.rendering.discreet import DEFAULT_SENSITIVE_WORDS, sensitive_words_in
from messenger.rendering.environment import Flavour, TemplateEnvironment, TemplateRenderError
from messenger.rendering.sms import non_gsm7_characters, sms_segments
from messenger.rendering.strings import BotStrings

# Every step needs these in the default locale; the other flavours fall back or are optional.
REQUIRED = (Flavour.TEXT, Flavour.TELEGRAM)
MAX_LENGTH = {Flavour.TELEGRAM: 4096, Flavour.TEXT: 4096}
# What a lock screen shows on the discreet channels: the SMS text and the e-mail subject.
DISCREET = (Flavour.SMS, Flavour.EMAIL_SUBJECT)
MAX_SMS_SEGMENTS = 2
# A reminder carries the clinic's three instructions (bring, arrange, before) in full: it may take three.
SMS_SEGMENT_BUDGET = {StepKind.REMINDER: 3}
# The reminders before an infusion: each flavour but the e-mail subject shows the series' bring / arrange / before.
CLINIC_TEXT_TEMPLATES = frozenset({"reminder/day-before", "reminder/same-day"})
# Templates the app sends outside any series definition, with the kind of step they stand for.
SYSTEM_TEMPLATES = {"reminder/moved": StepKind.REMINDER}


@dataclass(slots=True)
class CheckReport:
    rendered: int
    problems: list[str]
    lengths: dict[Flavour, int]
    # SMS texts by encoding and by segment count, e.g. {"GSM-7, 2 segments": 12}.
    sms: Counter[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def locales(environment: TemplateEnvironment) -> list[str]:
    return environment.locales()


def check_templates(
    environment: TemplateEnvironment,
    catalog: SeriesCatalog,
    clinic: Clinic,
    sensitive_words: Sequence[str] = DEFAULT_SENSITIVE_WORDS,
    strings: BotStrings | None = None,
) -> CheckReport:
    report = CheckReport(rendered=0, problems=[], lengths={}, sms=Counter())
    for name in environment.template_files():  # syntax of every file, used or not
        try:
            environment.compile(name)
        except TemplateRenderError as exc:
            report.problems.append(str(exc))
    report.problems.extend(missing_translations(environment, strings or BotStrings(environment)))
    for definition in catalog:
        extra = [
            (f"system:{template}", Step(key="system", kind=kind, template=template), 1)
            for template, kind in SYSTEM_TEMPLATES.items()
        ]
        for key, step, number in [*definition.expanded_steps(), *extra]:
            report.problems.extend(
                f"{environment.default_locale}/{step.template}.{flavour.value}.j2: "
                f"missing (series {definition.key!r}, step {key!r})"
                for flavour in REQUIRED
                if not environment.has(step.template, flavour, environment.default_locale)
            )
            for locale in locales(environment):
                context = sample_context(
                    definition, clinic=clinic, step_key=key, kind=step.kind, infusion_number=number, language=locale
                )
                for flavour in Flavour:
                    ref = _exact_file(environment, step.template, flavour, locale)
                    if ref is not None:
                        _check_one(environment, ref, flavour, step, context, sensitive_words, report)
    deduplicated = list(dict.fromkeys(report.problems))
    report.problems.clear()
    report.problems.extend(deduplicated)
    return report


def _check_one(
    environment: TemplateEnvironment,
    ref: str,
    flavour: Flavour,
    step: Step,
    context: dict[str, Any],
    sensitive_words: Sequence[str],
    report: CheckReport,
) -> None:
    try:
        text = environment.render_file(ref, context)
    except TemplateRenderError as exc:
        report.problems.append(str(exc))
        return
    report.rendered += 1
    report.lengths[flavour] = max(report.lengths.get(flavour, 0), len(text))
    limit = MAX_LENGTH.get(flavour)
    path = environment.source_path(ref)
    if limit is not None and len(text) > limit:
        report.problems.append(f"{path}: renders to {len(text)} characters, more than {limit}")
    if flavour in DISCREET and (found := sensitive_words_in(text, sensitive_words)):
        report.problems.append(
            f"{path}: shows {', '.join(repr(w) for w in found)} on a discreet channel (lock screens show it)"
        )
    if flavour is Flavour.SMS:
        _check_sms(text, path, step, report)
    if step.template in CLINIC_TEXT_TEMPLATES and flavour is not Flavour.EMAIL_SUBJECT:
        real = context["series"]["vars"]
        sentinels = sentinel_vars(name for name in REMINDER_VARS if name in real)
        marked = {**context, "series": {**context["series"], "vars": {**real, **sentinels}}}
        problems = hard_coded_vars(environment.render_file(ref, marked), sentinels, real)
        report.problems.extend(f"{path}: {problem}" for problem in problems)


def _check_sms(text: str, path: str, step: Step, report: CheckReport) -> None:
    segments = sms_segments(text)
    report.sms[f"{segments.encoding}, {segments.segments} segment(s)"] += 1
    budget = SMS_SEGMENT_BUDGET.get(step.kind, MAX_SMS_SEGMENTS)
    if segments.segments > budget:
        forcing = "".join(non_gsm7_characters(text)) if segments.encoding == "UCS-2" else ""
        hint = f"; {forcing!r} force UCS-2: reword to stay in GSM-7" if forcing else ""
        report.problems.append(
            f"{path}: {segments.segments} SMS segments ({segments.encoding}, "
            f"{segments.length} characters); keep it to {budget}{hint}"
        )


def _exact_file(environment: TemplateEnvironment, template: str, flavour: Flavour, locale: str) -> str | None:
    """The file for exactly this locale (no fallback), if it exists."""
    ref = environment.resolve(template, flavour, locale)
    return ref.name if ref is not None and ref.locale == locale else None
