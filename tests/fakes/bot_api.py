"""An in-process stand-in for the Telegram Bot API server.

Point the real python-telegram-bot ``Bot``/``Application`` at :attr:`FakeBotApi.base_url`,
inject what users do (:meth:`FakeBotApi.user_sends`, :meth:`FakeBotApi.user_presses`) and read
what the bot did (:attr:`FakeBotApi.calls`, :meth:`FakeBotApi.sent_messages`)::

    async with FakeBotApi() as api:
        app = (
            ApplicationBuilder().token(api.token)
            .base_url(api.base_url).base_file_url(api.base_file_url).build()
        )
        ...
        api.user_sends(42, "/start abc")
        reply = await api.wait_for_message(42, contains="Welcome")

Answers use Telegram's envelope (``{"ok": true, "result": ...}`` or ``{"ok": false,
"error_code": ..., "description": ..., "parameters": ...}``) and the same HTTP status codes, so
PTB raises the same exceptions it would against api.telegram.org.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .bot_limits import FloodControl, TelegramLimits
from .telegram_objects import (
    CANONICAL_METHODS,
    MAX_TEXT_LENGTH,
    WEBHOOK_CONFLICT,
    ApiError,
    apply_edit,
    bad_request,
    bot_command_entities,
    bot_user_object,
    callback_data_of,
    caption_fields,
    chat_id_of,
    chat_object,
    check_commands,
    check_reply_markup,
    commands_key,
    file_object,
    formatted_text,
    read_params,
    update_kind,
)

_log = logging.getLogger(__name__)

_BLOCKABLE = re.compile(r"^(send|edit|copy|forward)", re.IGNORECASE)


@dataclass
class Call:
    """One request the bot made. ``status``/``response`` are filled in once it is answered."""

    method: str
    params: dict[str, Any]
    status: int | None = field(default=None, compare=False)
    response: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def summary(self) -> str:
        shown = {k: v for k, v in self.params.items() if k not in ("reply_markup", "entities")}
        text = repr(shown)
        return f"{self.method} -> {self.status} {text[:160]}"


@dataclass
class _Failure:
    method: str
    error: ApiError
    times: int


class _Signal:
    """Wake every waiter on :meth:`notify`; callable from synchronous code."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


class FakeBotApi:
    def __init__(
        self,
        *,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "clinic_test_bot",
        bot_id: int = 123456,
        limits: TelegramLimits | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        # Off unless asked for: with limits, requests beyond Telegram's are answered 429.
        self.flood = FloodControl(limits, monotonic) if limits is not None else None
        self.bot_user = bot_user_object(bot_id, bot_username)
        self.calls: list[Call] = []
        self.internal_errors: list[BaseException] = []
        self.webhook_url = ""
        self.commands: dict[str, list[dict]] = {}
        self.menu_buttons: dict[Any, dict] = {}
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = {}
        self._messages: dict[tuple[int, int], dict] = {}  # (chat_id, message_id) -> Message
        self._sent: list[tuple[int, int]] = []
        self._users: dict[int, dict] = {}
        self._open_queries: set[str] = set()
        self._query_ids = itertools.count(4_000_000_001)
        self._files: dict[str, tuple[bytes, str]] = {}
        self._file_ids = itertools.count(1)
        self._failures: list[_Failure] = []
        self._blocked: set[int] = set()
        self._held: dict[str, asyncio.Event] = {}
        self._activity = _Signal()
        self._new_updates = _Signal()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> None:
        self._closing = False
        self._activity, self._new_updates = _Signal(), _Signal()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True
        self._new_updates.notify()  # release pending long polls
        for gate in self._held.values():
            gate.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ what users do

    def user_sends(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        first_name: str = "Test",
        username: str | None = None,
    ) -> dict:
        """Queue a text message from ``user_id``; ``/commands`` get ``bot_command`` entities."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        self._users[user_id] = user
        chat_id = user_id if chat_id is None else chat_id
        message = self._store_message(chat_id, user, text=text)
        entities = bot_command_entities(text)
        if entities:
            message["entities"] = entities
        return self._queue_update(message=copy.deepcopy(message))

    def user_sends_media(self, user_id: int, kind: str, *, caption: str | None = None) -> dict:
        """Queue a voice note, photo or document from ``user_id`` (as Telegram describes them, with a file id)."""
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": "Test"})
        file_id = f"{kind}-file-{next(self._file_ids)}"
        unique = {"file_id": file_id, "file_unique_id": f"u{file_id}"}
        content: dict[str, Any] = {
            "voice": {"voice": unique | {"duration": 7, "mime_type": "audio/ogg"}},
            "photo": {"photo": [unique | {"width": 90, "height": 90}, unique | {"width": 800, "height": 800}]},
            "document": {"document": unique | {"file_name": "letter.pdf", "mime_type": "application/pdf"}},
        }[kind]
        if caption:
            content["caption"] = caption
        message = self._store_message(user_id, user, **content)
        return self._queue_update(message=copy.deepcopy(message))

    def user_replies(self, user_id: int, text: str, *, to_message_id: int) -> dict:
        """Queue a text message from ``user_id`` that replies to a message in their chat."""
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": "Test"})
        original = self._messages[(user_id, to_message_id)]
        message = self._store_message(user_id, user, text=text, reply_to_message=copy.deepcopy(original))
        return self._queue_update(message=copy.deepcopy(message))

    def user_presses(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int,
        chat_id: int | None = None,
        require_button: bool = True,
    ) -> dict:
        """Queue a ``callback_query`` for a button on a message the bot sent.

        With ``require_button`` (the default) ``data`` must be the ``callback_data`` of a button
        currently on that message, since that is all a real client can send.
        """
        chat_id = user_id if chat_id is None else chat_id
        message = self._messages.get((chat_id, message_id))
        if message is None or not message["from"].get("is_bot"):
            raise LookupError(
                f"the bot sent no message {message_id} to chat {chat_id}; it sent "
                f"{[m['message_id'] for m in self.sent_messages(chat_id)]}"
            )
        if require_button and data not in callback_data_of(message):
            raise ValueError(
                f"message {message_id} has no button with callback_data {data!r}; "
                f"buttons: {sorted(callback_data_of(message))}"
            )
        user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "Test"}
        query_id = str(next(self._query_ids))
        self._open_queries.add(query_id)
        query = {
            "id": query_id,
            "from": user,
            "message": copy.deepcopy(message),
            "chat_instance": str(abs(chat_id) * 7919 + 1),
            "data": data,
        }
        return self._queue_update(callback_query=query)

    # ------------------------------------------------------------------ what the bot did

    def sent_messages(self, chat_id: int | None = None) -> list[dict]:
        """Messages the bot created, in order, in their current (edited) state."""
        return [
            copy.deepcopy(self._messages[key])
            for key in self._sent
            if key in self._messages and (chat_id is None or key[0] == chat_id)
        ]

    def uploaded(self, message: dict) -> tuple[bytes, str]:
        """The bytes and file name of the photo (largest size) or document a bot message carries."""
        file = message["document"] if "document" in message else message["photo"][-1]
        return self._files[file["file_id"]]

    @property
    def refused_for_flood(self) -> int:
        """How many requests the limits answered with 429 (0 without limits)."""
        return len(self.flood.refused) if self.flood is not None else 0

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    async def wait_for(self, predicate: Callable[[FakeBotApi], bool], timeout: float = 10.0) -> None:
        """Return once ``predicate(self)`` holds; re-checked after every call and injection."""
        await self._wait(predicate, timeout, lambda: getattr(predicate, "__name__", "predicate"))

    async def wait_for_message(self, chat_id: int, contains: str | None = None, timeout: float = 10.0) -> dict:
        """The latest message the bot sent to ``chat_id`` whose text/caption has ``contains``."""
        found: list[dict] = []

        def matching(api: FakeBotApi) -> bool:
            for message in reversed(api.sent_messages(chat_id)):
                body = message.get("text", message.get("caption", ""))
                if contains is None or contains in body:
                    found.append(message)
                    return True
            return False

        def describe() -> str:
            texts = [m.get("text", m.get("caption")) for m in self.sent_messages(chat_id)]
            return f"a message to {chat_id} containing {contains!r}; messages there: {texts}"

        await self._wait(matching, timeout, describe)
        return found[-1]

    async def _wait(self, predicate: Callable[[FakeBotApi], bool], timeout: float, describe: Callable[[], str]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self):
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n  ".join(c.summary() for c in self.calls[-10:]) or "(none)"
                raise TimeoutError(f"timed out after {timeout}s waiting for {describe()}\nlast calls:\n  {recent}")
            await self._activity.wait(remaining)

    # ------------------------------------------------------------------ failure injection

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error instead."""
        if status == 429 and retry_after is None:
            retry_after = 1
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        error = ApiError(status, description, parameters)
        self._failures.append(_Failure(method.lower(), error, times))

    def hold(self, method: str) -> asyncio.Event:
        """Keep calls of ``method`` waiting, as a slow Telegram would, until the event returned is set."""
        gate = self._held[method.lower()] = asyncio.Event()
        return gate

    def block_chat(self, chat_id: int) -> None:
        self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        file_match = re.fullmatch(r"/file/bot([^/]+)/(.+)", request.path)
        if file_match:
            return self._download(*file_match.groups())
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", request.path)
        if not match:
            return web.json_response(ApiError(404).envelope(), status=404)
        token, method = match.groups()
        method = CANONICAL_METHODS.get(method.lower(), method)
        try:
            params = await read_params(request)
        except ApiError as error:
            return web.json_response(error.envelope(), status=error.status)
        call = Call(method, params)
        self.calls.append(call)
        self._activity.notify()
        gate = self._held.get(method.lower())
        if gate is not None:
            await gate.wait()
        try:
            if token != self.token:
                raise ApiError(401)
            self._injected_failure(method, params)
            if self.flood is not None:
                self.flood.check(method, params)
            handler = getattr(self, f"_api_{method.lower()}", None)
            result = handler(params) if handler else True
            if inspect.isawaitable(result):
                result = await result
            call.status, call.response = 200, {"ok": True, "result": result}
        except ApiError as error:
            call.status, call.response = error.status, error.envelope()
        except Exception as exc:  # a bug here must not look like a Telegram answer
            _log.exception("FakeBotApi failed handling %s", method)
            self.internal_errors.append(exc)
            error = ApiError(500, f"Internal Server Error: {exc!r}")
            call.status, call.response = 500, error.envelope()
        self._activity.notify()
        return web.json_response(call.response, status=call.status)

    def _injected_failure(self, method: str, params: dict) -> None:
        for failure in self._failures:
            if failure.method == method.lower():
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                raise failure.error
        if _BLOCKABLE.match(method) and params.get("chat_id") in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    def _download(self, token: str, file_path: str) -> web.StreamResponse:
        file_id = file_path.split("/")[-1].split("_", 1)[0]
        if token != self.token or file_id not in self._files:
            return web.json_response(ApiError(404).envelope(), status=404)
        return web.Response(body=self._files[file_id][0])

    # ------------------------------------------------------------------ state helpers

    def _queue_update(self, **payload: Any) -> dict:
        update = {"update_id": next(self._update_ids), **payload}
        self._updates.append(update)
        self._new_updates.notify()
        self._activity.notify()
        return update

    def _store_message(self, chat_id: int, sender: dict, **content: Any) -> dict:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        message = {
            "message_id": next(counter),
            "from": sender,
            "chat": chat_object(chat_id, self._users.get(chat_id)),
            "date": int(time.time()),
            **content,
        }
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _bot_message(self, params: dict, **content: Any) -> dict:
        chat_id = chat_id_of(params)
        reply_to = params.get("reply_parameters") or {}
        reply_id = reply_to.get("message_id") or params.get("reply_to_message_id")
        if reply_id:
            original = self._messages.get((chat_id, reply_id))
            if original is not None:
                content["reply_to_message"] = copy.deepcopy(original)
            elif not (reply_to.get("allow_sending_without_reply") or params.get("allow_sending_without_reply")):
                raise bad_request("message to be replied not found")
        markup = check_reply_markup(params.get("reply_markup"))
        if markup:
            content["reply_markup"] = markup
        message = self._store_message(chat_id, self.bot_user, **content)
        self._sent.append((chat_id, message["message_id"]))
        return message

    def _message_to_edit(self, params: dict) -> dict:
        if params.get("inline_message_id"):
            raise bad_request("inline messages are not supported here")
        message = self._messages.get((chat_id_of(params), params.get("message_id")))
        if message is None or not message["from"].get("is_bot"):
            raise bad_request("message to edit not found")
        return message

    def _file(self, value: Any, kind: str) -> dict:
        file = file_object(value, f"{kind}{next(self._file_ids)}")
        if isinstance(value, dict):  # an upload
            self._files[file["file_id"]] = (value["content"], value["filename"] or kind)
        return file

    # ------------------------------------------------------------------ Bot API methods

    def _api_getme(self, params: dict) -> dict:
        return self.bot_user

    async def _api_getupdates(self, params: dict) -> list[dict]:
        if self.webhook_url:
            raise ApiError(409, WEBHOOK_CONFLICT)
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates") or None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            ready = [u for u in self._updates if allowed is None or update_kind(u) in allowed]
            remaining = deadline - loop.time()
            if ready or remaining <= 0 or self._closing:
                return ready[:limit]
            await self._new_updates.wait(remaining)

    def _api_deletewebhook(self, params: dict) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_setwebhook(self, params: dict) -> bool:
        self.webhook_url = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_getwebhookinfo(self, params: dict) -> dict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _api_sendmessage(self, params: dict) -> dict:
        chat_id_of(params)
        text, entities = formatted_text(params, "text", "entities", MAX_TEXT_LENGTH)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._bot_message(params, **content)

    def _api_sendphoto(self, params: dict) -> dict:
        photo = self._file(params.get("photo"), "photo")
        size = {k: v for k, v in photo.items() if k in ("file_id", "file_unique_id", "file_size")}
        return self._bot_message(params, photo=[{**size, "width": 1280, "height": 720}], **caption_fields(params))

    def _api_senddocument(self, params: dict) -> dict:
        document = self._file(params.get("document"), "document")
        return self._bot_message(params, document=document, **caption_fields(params))

    def _api_editmessagetext(self, params: dict) -> dict:
        message = self._message_to_edit(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = formatted_text(params, "text", "entities", MAX_TEXT_LENGTH)
        changes = {"text": text, "entities": entities}
        return apply_edit(message, changes, params.get("reply_markup"))

    def _api_editmessagecaption(self, params: dict) -> dict:
        message = self._message_to_edit(params)
        if "text" in message:
            raise bad_request("there is no caption in the message to edit")
        changes = {"caption": None, "caption_entities": None, **caption_fields(params)}
        return apply_edit(message, changes, params.get("reply_markup"))

    def _api_editmessagereplymarkup(self, params: dict) -> dict:
        message = self._message_to_edit(params)
        return apply_edit(message, {}, params.get("reply_markup"))

    def _api_deletemessage(self, params: dict) -> bool:
        if self._messages.pop((chat_id_of(params), params.get("message_id")), None) is None:
            raise bad_request("message to delete not found")
        return True

    def _api_answercallbackquery(self, params: dict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_queries:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        return True

    def _api_setmycommands(self, params: dict) -> bool:
        self.commands[commands_key(params)] = check_commands(params.get("commands"))
        return True

    def _api_getmycommands(self, params: dict) -> list[dict]:
        return self.commands.get(commands_key(params), [])

    def _api_deletemycommands(self, params: dict) -> bool:
        self.commands.pop(commands_key(params), None)
        return True

    def _api_setchatmenubutton(self, params: dict) -> bool:
        self.menu_buttons[params.get("chat_id")] = params.get("menu_button") or {"type": "default"}
        return True

    def _api_getchatmenubutton(self, params: dict) -> dict:
        return self.menu_buttons.get(params.get("chat_id"), {"type": "default"})

    def _api_getfile(self, params: dict) -> dict:
        file_id = str(params.get("file_id") or "")
        if file_id not in self._files:
            raise bad_request("invalid file_id")
        content, name = self._files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(content),
            "file_path": f"files/{file_id}_{name}",
        }
