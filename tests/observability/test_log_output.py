"""configure_logging: one redacting root handler, JSON lines or human lines, quiet libraries."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from messenger.observability.log_fields import bind_log_fields, log_fields
from messenger.observability.logging import NOISY_LOGGERS, configure_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def _ours(stream: io.StringIO) -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is stream]


def test_json_lines_have_the_keys_and_a_redacted_message() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, stream=stream)
    log = logging.getLogger("messenger.scheduling.dispatcher")
    before = datetime.now(UTC)

    log.info("message %s sent to %s", 42, "+14155550100")
    log.warning(
        "Bot API at https://api.telegram.org/bot%s/getMe",
        TOKEN,
        extra={"message_id": 42, "address": "jane@example.com", "opaque": object()},
    )
    try:
        raise RuntimeError("provider said: no such user jane@example.com")
    except RuntimeError:
        log.exception("send crashed")
    log.debug("not shown at INFO")

    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 3
    first, second, third = records
    assert set(first) == {"ts", "level", "logger", "message"}
    assert first["level"] == "INFO"
    assert first["logger"] == "messenger.scheduling.dispatcher"
    assert first["message"] == "message 42 sent to [phone]"
    stamp = datetime.fromisoformat(first["ts"])
    assert stamp.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC) + timedelta(seconds=1)

    assert second["message"] == "Bot API at https://api.telegram.org/bot[token]/getMe"
    assert second["message_id"] == 42
    assert second["address"] == "[email]"
    assert "opaque" not in second  # not JSON-serialisable: left out, the line still written

    assert third["level"] == "ERROR"
    assert third["exc"].startswith("Traceback (most recent call last)")
    assert third["exc"].endswith("RuntimeError: provider said: no such user [email]")
    assert "jane@example.com" not in stream.getvalue()
    assert TOKEN not in stream.getvalue()


def test_human_lines_are_redacted_too() -> None:
    stream = io.StringIO()
    configure_logging(level="DEBUG", stream=stream)
    logging.getLogger("messenger.cli").debug("owner %s at %s", "(949) 503-1414", "jane@example.com")

    line = stream.getvalue()
    assert line.endswith(" DEBUG messenger.cli: owner [phone] at [email]\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_one_root_handler_however_often_it_is_configured() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(json=True, stream=second)
    logging.getLogger("messenger").warning("hello")

    assert _ours(first) == [] and len(_ours(second)) == 1
    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["message"] == "hello"


def test_noisy_libraries_are_quieted() -> None:
    stream = io.StringIO()
    configure_logging(level="DEBUG", json=True, stream=stream)
    for name in ("apscheduler.scheduler", "httpx", "httpcore.connection"):
        logging.getLogger(name).info("chatter")
    logging.getLogger("httpx").warning("worth seeing")

    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["worth seeing"]
    assert {logging.getLogger(name).level for name in ("apscheduler", "httpx", "httpcore")} == {logging.WARNING}


def test_an_unknown_level_is_a_readable_error() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure_logging(level="loud")


@pytest.mark.parametrize("json_lines", [pytest.param(True, id="json"), pytest.param(False, id="human")])
def test_bound_ids_are_fields_of_every_record_inside(json_lines: bool) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", json=json_lines, stream=stream)
    log = logging.getLogger("messenger.anything")

    with log_fields(patient_id=3, message_id=17):
        bind_log_fields(series_id=5)
        log.info("sending to %s", "+14155550100")
    log.info("outside")

    first, second = stream.getvalue().splitlines()
    if json_lines:
        record = json.loads(first)
        assert (record["patient_id"], record["series_id"], record["message_id"]) == (3, 5, 17)
        assert record["message"] == "sending to [phone]"
        assert "patient_id" not in json.loads(second)
    else:
        assert first.endswith("sending to [phone] [patient_id=3 series_id=5 message_id=17]")
        assert second.endswith("outside")
