"""Generated hostile input through the running application: commands, buttons, and both webhooks.

Each example goes through the real bot (python-telegram-bot over HTTP to the loopback Bot API),
or through the real web app (signed Twilio forms, Telegram webhook bodies). After each one:
no handler failed (nothing logged at ERROR), the web app never answered 500, and no message the
bot sent or edited is over Telegram's 4,096 characters.

The app runs in its own event loop on a thread, so hypothesis drives examples from the test's
thread without an event loop of its own. ``HYPOTHESIS_PROFILE=fuzz`` runs 2,000 examples per test,
10,000 in all per backend; each test prints how many it ran and how the app answered (``-s``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Coroutine, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import Update

from messenger.app import App, build_app
from messenger.channels.signing import twilio_signature
from messenger.clock import ManualClock
from messenger.config import Settings
from tests.bot.conftest import OWNER, PATIENT, STRANGER, invite_code
from tests.conftest import T0
from tests.fakes.bot_api import FakeBotApi
from tests.inbound.support import fast_pacing, free_port

SECRET = "fuzz-webhook-secret-0123456789"
TWILIO_TOKEN = "fuzz-twilio-token"
PATIENT_PHONE = "+15551230001"
COMMANDS = (
    "patient", "patients", "pause", "resume", "cancel", "invite", "reschedule", "enroll", "staff",
    "preview", "start", "schedule", "stop", "help", "forget", "stats", "nonsense",
)  # fmt: skip
# What broke parsers before: Unicode digits, huge numbers, NUL and other controls, markup, quotes.
NASTY = st.sampled_from(
    ["²", "٣", "99999999999", "9" * 40, "\x00", "\x1b[31m", "\u202e", "<b>", "&amp;", '"', "'", "\\", "=",
     "tz=America", "tz=" + "A/" * 150, "first=9999-12-31 10:00", "name=" + "N" * 201, "#1", "-1", "0", "1"]
)  # fmt: skip
WORD = st.one_of(NASTY, st.text(max_size=30), st.integers(min_value=-(2**70), max_value=2**70).map(str))
ARGUMENTS = st.lists(WORD, max_size=6).map(" ".join) | st.text(max_size=5000)
TELEGRAM_LIMIT = 4096


class Harness:
    """The whole application on a private event loop thread, with a loopback Bot API."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.errors: list[logging.LogRecord] = []
        # Examples run and the web app's answers by status, printed at the end.
        self.examples = 0
        self.statuses: Counter[int] = Counter()
        self.api: FakeBotApi
        self.app: App

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def __enter__(self) -> Harness:
        self.thread.start()
        self.run(self._start())
        handler = _Collector(self.errors)
        for name in ("messenger", "telegram", "starlette", "uvicorn"):
            logging.getLogger(name).addHandler(handler)
        self._handler = handler
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name in ("messenger", "telegram", "starlette", "uvicorn"):
            logging.getLogger(name).removeHandler(self._handler)
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()

    async def _start(self) -> None:
        self.api = FakeBotApi()
        await self.api.start()
        port = free_port()
        settings = Settings(
            _env_file=None,
            database_url=self.database_url,
            telegram_token=self.api.token,  # type: ignore[arg-type]
            telegram_base_url=self.api.base_url,
            owner_ids=[OWNER],
            telegram_updates="webhook",
            telegram_webhook_secret=SECRET,  # type: ignore[arg-type]
            public_url=f"http://127.0.0.1:{port}",
            http_port=port,
            twilio_account_sid="AC" + "0" * 32,
            twilio_auth_token=TWILIO_TOKEN,  # type: ignore[arg-type]
        )
        # Every example is answered in the same few chats, one message a second each: pace on a fast clock.
        self.app = build_app(settings, clock=ManualClock(T0), pacing_clock=fast_pacing(), serve_http=True)
        await self.app.start()
        self.app.alarm.scheduler.pause()
        enrolled = await self.command(
            OWNER, f'/enroll name="Jane Doe" first="2026-12-02 10:00" tz=America/Los_Angeles phone={PATIENT_PHONE}'
        )
        await self.command(PATIENT, f"/start {invite_code(enrolled)}")

    async def _stop(self) -> None:
        await self.app.stop()
        await self.api.stop()

    async def command(self, user_id: int, text: str) -> str:
        """``text`` from ``user_id``, processed to the end; the last text the bot sent that user."""
        await self._process(self.api.user_sends(user_id, text))
        sent = self.api.sent_messages(user_id)
        return str(sent[-1].get("text") or "") if sent else ""

    async def press(self, user_id: int, data: str) -> None:
        messages = self.api.sent_messages(user_id)
        if messages:
            update = self.api.user_presses(user_id, data, message_id=messages[-1]["message_id"], require_button=False)
            await self._process(update)

    async def _process(self, payload: dict[str, Any]) -> None:
        assert self.app.telegram is not None
        application = self.app.telegram.application
        await application.process_update(Update.de_json(payload, application.bot))

    @property
    def web(self) -> str:
        assert self.app.web is not None
        return self.app.web.url

    def replies_over_the_limit(self, since: int) -> list[int]:
        lengths = [
            len(str(call.params.get("text") or ""))
            for call in self.api.calls[since:]
            if call.method in {"sendMessage", "editMessageText"}
        ]
        return [n for n in lengths if n > TELEGRAM_LIMIT]


class _Collector(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@pytest.fixture
def harness(database_url: str, request: pytest.FixtureRequest) -> Iterator[Harness]:
    with Harness(database_url) as running:
        yield running
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(running.statuses.items())) or "none"
        print(f"\n{request.node.name}: {running.examples} examples; web answers {answers}")


def _check(harness: Harness, since: int) -> None:
    harness.examples += 1
    failures = [
        f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else r.getMessage() for r in harness.errors
    ]
    harness.errors.clear()
    assert not failures, failures
    assert not harness.replies_over_the_limit(since)
    assert not harness.api.internal_errors


def test_commands_from_an_owner_a_patient_and_a_stranger(harness: Harness) -> None:
    @given(user=st.sampled_from([OWNER, PATIENT, STRANGER]), command=st.sampled_from(COMMANDS), arguments=ARGUMENTS)
    def example(user: int, command: str, arguments: str) -> None:
        since = len(harness.api.calls)
        harness.run(harness.command(user, f"/{command} {arguments}".strip()))
        _check(harness, since)

    example()


def test_free_text_and_conversation_answers(harness: Harness) -> None:
    @given(user=st.sampled_from([OWNER, PATIENT, STRANGER]), text=st.text(min_size=1, max_size=5000))
    def example(user: int, text: str) -> None:
        since = len(harness.api.calls)
        if text.startswith("/"):
            text = " " + text
        harness.run(harness.command(user, text))
        _check(harness, since)

    example()


CALLBACK_DATA = st.one_of(
    st.text(max_size=80),
    st.tuples(st.sampled_from("rcsoe"), WORD, WORD).map(lambda parts: ":".join(parts)),
)


def test_forged_buttons(harness: Harness) -> None:
    @given(user=st.sampled_from([OWNER, PATIENT, STRANGER]), data=CALLBACK_DATA)
    def example(user: int, data: str) -> None:
        since = len(harness.api.calls)
        harness.run(harness.press(user, data))
        _check(harness, since)

    example()


# Mostly printable text, so most forms get past the control-character check to the handlers.
PRINTABLE = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cf")), max_size=200)
FORM_VALUE = st.one_of(PRINTABLE, PRINTABLE, PRINTABLE, NASTY, st.integers().map(str))
FORM_NAMES = st.sampled_from(
    ["From", "To", "Body", "MessageSid", "SmsSid", "MessageStatus", "ErrorCode", "ErrorMessage"]
)


def test_signed_twilio_webhooks(harness: Harness) -> None:
    @given(
        path=st.sampled_from(["/twilio/inbound", "/twilio/status"]),
        pairs=st.lists(
            st.tuples(
                st.one_of(
                    FORM_NAMES, FORM_NAMES, st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=10)
                ),
                FORM_VALUE,
            ),
            max_size=5,
        ),
        from_patient=st.booleans(),
    )
    def example(path: str, pairs: list[tuple[str, str]], from_patient: bool) -> None:
        if from_patient:
            pairs = [("From", PATIENT_PHONE), *pairs]
        url = f"{harness.app.settings.public_url}{path}"
        signature = twilio_signature(TWILIO_TOKEN, url, pairs)
        response = httpx.post(
            url,
            content=urlencode(pairs),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
            timeout=60,
        )
        harness.statuses[response.status_code] += 1
        assert response.status_code < 500, response.text
        _check(harness, len(harness.api.calls))

    example()


def test_telegram_webhook_bodies(harness: Harness) -> None:
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=50),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=12,
    )
    update_like = st.fixed_dictionaries(
        {"update_id": st.integers(min_value=0, max_value=2**31)},
        optional={"message": json_values, "callback_query": json_values, "edited_message": json_values},
    )

    chat = st.sampled_from([OWNER, PATIENT, STRANGER])
    real_message = st.builds(
        lambda n, user, text: {
            "update_id": n,
            "message": {
                "message_id": n,
                "date": 1_700_000_000,
                "chat": {"id": user, "type": "private"},
                "from": {"id": user, "is_bot": False, "first_name": "F"},
                "text": text,
            },
        },
        st.integers(min_value=1, max_value=2**31),
        chat,
        st.builds(lambda c, a: f"/{c} {a}", st.sampled_from(COMMANDS), ARGUMENTS) | st.text(min_size=1, max_size=300),
    )

    @given(
        body=st.one_of(real_message, real_message, update_like, json_values),
        secret=st.sampled_from([SECRET, SECRET, "", "wrong"]),
    )
    def example(body: object, secret: str) -> None:
        response = httpx.post(
            f"{harness.web}/telegram/webhook",
            json=body,
            headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            timeout=60,
        )
        harness.statuses[response.status_code] += 1
        assert response.status_code < 500, response.text
        _check(harness, len(harness.api.calls))

    example()
