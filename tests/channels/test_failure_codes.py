"""Failure codes: stored as text, read back, and told to staff in the clinic's words from templates."""

from __future__ import annotations

import pytest

from messenger.channels.failures import FailureCode, describe_failure, failure_text, parse_failure
from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.strings import BotStrings

# Parameters each code's sentence may name; the channels always give these.
PARAMS = {
    FailureCode.TWILIO_ERROR: (("code", "30008"),),
    FailureCode.TWILIO_HTTP: (("status", "503"),),
    FailureCode.SMTP_REJECTED: (("code", "550"), ("status", "5.1.1")),
    FailureCode.SMTP_DEFERRED: (("code", "450"),),
    FailureCode.SMTP_SENDER_REFUSED: (("code", "553"),),
    FailureCode.SMTP_REFUSED: (("code", "554"),),
    FailureCode.SMTP_AUTH: (("code", "535"),),
    FailureCode.CHANNEL_TIMEOUT: (("seconds", "30"),),
    FailureCode.TEMPLATE_ERROR: (("where", "en/welcome.text.j2:2"), ("problem", "undefined")),
}


@pytest.fixture(scope="module")
def strings() -> BotStrings:
    return BotStrings(TemplateEnvironment())


@pytest.mark.parametrize("code", list(FailureCode), ids=lambda code: code.value)
def test_every_code_has_a_sentence_for_staff(strings: BotStrings, code: FailureCode) -> None:
    sentence = describe_failure(strings, failure_text(code, PARAMS.get(code, ())), "en")

    assert sentence and code.value not in sentence
    assert "{{" not in sentence


@pytest.mark.parametrize(
    ("stored", "sentence"),
    [
        pytest.param("twilio.21610", "the number replied STOP (Twilio 21610)", id="a code"),
        pytest.param("twilio.http status=503", "Twilio answered with HTTP 503", id="a code with a parameter"),
        pytest.param(
            "sms: twilio.error code=30008", "Twilio reported error 30008", id="behind the dispatcher's channel prefix"
        ),
        pytest.param("patient sent /stop", "patient sent /stop", id="not a code: kept as it is"),
        pytest.param("", "", id="nothing"),
    ],
)
def test_a_stored_reason_reads_as_a_sentence(strings: BotStrings, stored: str, sentence: str) -> None:
    assert describe_failure(strings, stored, "en") == sentence


def test_parameters_survive_storage() -> None:
    stored = failure_text(FailureCode.SMTP_REJECTED, (("code", "550"), ("status", "5.1.1")))

    assert stored == "smtp.rejected code=550 status=5.1.1"
    assert parse_failure(stored) == (FailureCode.SMTP_REJECTED, {"code": "550", "status": "5.1.1"})


def test_a_parameter_cannot_break_the_stored_form() -> None:
    stored = failure_text(FailureCode.TELEGRAM_NETWORK, (("error", "Timed Out=yes"),))

    assert parse_failure(stored) == (FailureCode.TELEGRAM_NETWORK, {"error": "Timed_Out_yes"})
