"""Telegram-side rules used by :mod:`tests.fakes.bot_api`.

Request decoding (query string, JSON, urlencoded and multipart, with PTB's JSON-encoded
form values), formatting (HTML parse mode -> plain text + entities), bot-command detection,
keyboard and command validation, the shapes of Chat/User/File objects and the error type
that becomes a Bot API error envelope.  Entity offsets and lengths are counted in UTF-16 code
units, as Telegram does.
"""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from http import HTTPStatus
from typing import Any

from aiohttp import web

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: invalid request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, status: int, description: str | None = None, parameters: dict | None = None) -> None:
        self.status = status
        self.description = description or default_description(status, parameters)
        self.parameters = parameters
        super().__init__(f"{status} {self.description}")

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def default_description(status: int, parameters: dict | None = None) -> str:
    if status == 429:
        return f"Too Many Requests: retry after {(parameters or {}).get('retry_after', 1)}"
    if status in _DEFAULT_DESCRIPTIONS:
        return _DEFAULT_DESCRIPTIONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- formatting

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
}
ALLOWED_TAGS = frozenset(_SIMPLE_TAGS) | {"a", "blockquote", "span"}


class _EntityParser(HTMLParser):
    """Telegram's HTML dialect: a fixed set of tags, strictly nested, no comments."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.text: list[str] = []
        self.position = 0  # UTF-16 length of the text so far
        self.entities: list[dict[str, Any]] = []
        self.stack: list[tuple[str, dict[str, Any] | None]] = []

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        index = self._line_starts[line - 1] + column
        return len(self.source[:index].encode("utf-8"))

    def _fail(self, detail: str) -> None:
        raise bad_request(f"can't parse entities: {detail}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag not in ALLOWED_TAGS:
            self._fail(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
        entity: dict[str, Any] | None = {"offset": self.position}
        if tag == "a":
            href = attributes.get("href")
            entity = {**entity, "type": "text_link", "url": href} if href else None
        elif tag == "blockquote":
            expandable = "expandable" in attributes
            entity["type"] = "expandable_blockquote" if expandable else "blockquote"
        elif tag == "span":
            if attributes.get("class") != "tg-spoiler":
                self._fail(f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte_offset()}')
            entity["type"] = "spoiler"
        else:
            entity["type"] = _SIMPLE_TAGS[tag]
        language = (attributes.get("class") or "").removeprefix("language-")
        if tag == "code" and self.stack and self.stack[-1][0] == "pre":
            outer = self.stack[-1][1]
            if outer is not None and outer["offset"] == self.position and language:
                outer["language"] = language
                entity = None  # folded into the enclosing pre entity
        if entity is not None:
            self.entities.append(entity)
        self.stack.append((tag, entity))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            self._fail(f'Unexpected end tag "{tag}" at byte offset {self._byte_offset()}')
        open_tag, entity = self.stack.pop()
        if open_tag != tag:
            self._fail(
                f'Unmatched end tag at byte offset {self._byte_offset()}, expected "</{open_tag}>", found "</{tag}>"'
            )
        if entity is not None:
            entity["length"] = self.position - entity["offset"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.position += utf16_len(data)

    def handle_comment(self, data: str) -> None:
        self._fail(f"Unsupported comment at byte offset {self._byte_offset()}")

    def handle_decl(self, decl: str) -> None:
        self._fail(f"Unsupported declaration at byte offset {self._byte_offset()}")

    handle_pi = handle_decl
    unknown_decl = handle_decl

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        self.feed(self.source)
        self.close()
        if self.stack:
            self._fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1][0]}"')
        entities = [e for e in self.entities if e.get("length")]
        return "".join(self.text), entities


def parse_formatted(text: str, parse_mode: str | None, entities: list[dict] | None) -> tuple[str, list[dict[str, Any]]]:
    """Return ``(plain_text, entities)`` as Telegram would store the message.

    Only HTML is parsed; Markdown modes are accepted and the text is kept verbatim.
    Explicit ``entities`` win over ``parse_mode``, as in the Bot API.
    """
    if entities:
        return text, list(entities)
    mode = (parse_mode or "").lower()
    if mode in ("", "markdown", "markdownv2"):
        return text, []
    if mode != "html":
        raise bad_request("unsupported parse_mode")
    return _EntityParser(text).parse()


_COMMAND = re.compile(r"(?<![^\s])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """``bot_command`` entities for every ``/command`` or ``/command@bot`` in ``text``."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: m.start()]),
            "length": utf16_len(m.group()),
        }
        for m in _COMMAND.finditer(text)
    ]


# --------------------------------------------------------------------------- keyboards

_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def check_reply_markup(markup: Any) -> dict | None:
    """Validate ``reply_markup``; return what Telegram echoes on the message (inline only)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return None  # reply keyboards, ForceReply and ReplyKeyboardRemove are not echoed
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('can\'t parse inline keyboard button: Field "inline_keyboard" must be of type Array')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request("can't parse inline keyboard button: Text must be a String")
            if not any(key in button for key in _BUTTON_ACTIONS):
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                size = len(data.encode()) if isinstance(data, str) else 0
                if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button and not button["url"]:
                raise bad_request("BUTTON_URL_INVALID")
    return {"inline_keyboard": [[dict(button) for button in row] for row in rows]}


def bot_user_object(bot_id: int, username: str) -> dict[str, Any]:
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": "Clinic",
        "username": username,
        "can_join_groups": False,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def chat_object(chat_id: int, user: dict | None = None) -> dict:
    if chat_id > 0:
        first_name = (user or {}).get("first_name", "Test")
        chat = {"id": chat_id, "type": "private", "first_name": first_name}
        if user and "username" in user:
            chat["username"] = user["username"]
        return chat
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}


def file_object(value: Any, new_file_id: str) -> dict:
    """The Document/PhotoSize fields for an upload (a decoded multipart file) or a file_id/URL."""
    if isinstance(value, dict):
        return {
            "file_id": new_file_id,
            "file_unique_id": f"u{new_file_id}",
            "file_size": value["size"],
            "file_name": value["filename"],
            "mime_type": value["content_type"],
        }
    if not value:
        raise bad_request("there is no file in the request")
    return {"file_id": str(value), "file_unique_id": f"u{value}"[:32]}


def apply_edit(message: dict, changes: dict, markup: Any) -> dict:
    """Edit ``message`` in place; ``None``/``[]`` values remove fields, as do omitted markups."""
    changes = {**changes, "reply_markup": check_reply_markup(markup)}
    updated = {k: v for k, v in {**message, **changes}.items() if v not in (None, [])}
    if {**updated, "edit_date": None} == {**message, "edit_date": None}:
        raise bad_request(NOT_MODIFIED)
    updated["edit_date"] = int(time.time())
    message.clear()
    message.update(updated)
    return message


def check_commands(commands: Any) -> list[dict]:
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be a list of at most 100 BotCommand")
    for command in commands:
        if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    return commands


def callback_data_of(message: dict) -> set[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["callback_data"] for row in rows for b in row if "callback_data" in b}


# --------------------------------------------------------------------------- requests

# Values PTB sends form-encoded that must stay strings even when they look like JSON.
STRING_FIELDS = frozenset(
    [
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "language_code",
        "emoji",
        "action",
        "title",
        "description",
        "short_description",
        "name",
        "query",
        "file_id",
        "photo",
        "document",
        "video",
        "audio",
        "voice",
        "animation",
        "sticker",
        "thumbnail",
        "business_connection_id",
        "message_effect_id",
        "custom_title",
    ]
)
# Values that are JSON-serialized objects even inside a JSON body.
JSON_FIELDS = frozenset(
    [
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "menu_button",
        "link_preview_options",
        "reply_parameters",
        "media",
    ]
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


CANONICAL_METHODS = {
    name.lower(): name
    for name in [
        "getMe",
        "getUpdates",
        "deleteWebhook",
        "setWebhook",
        "getWebhookInfo",
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "deleteMessage",
        "answerCallbackQuery",
        "setMyCommands",
        "getMyCommands",
        "deleteMyCommands",
        "setChatMenuButton",
        "getChatMenuButton",
        "getFile",
        "close",
        "logOut",
        "sendChatAction",
        "copyMessage",
        "forwardMessage",
        "sendMediaGroup",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendSticker",
        "getChat",
        "setMyDescription",
        "setMyShortDescription",
        "setMyName",
    ]
}


def update_kind(update: dict) -> str:
    return next(key for key in update if key != "update_id")


def chat_id_of(params: dict) -> int:
    chat_id = params.get("chat_id")
    if chat_id in (None, ""):
        raise bad_request("chat_id is empty")
    if not isinstance(chat_id, int):
        raise bad_request("chat not found")
    return chat_id


def formatted_text(params: dict, key: str, entities_key: str, limit: int) -> tuple[str, list]:
    raw = params.get(key)
    text, entities = parse_formatted(
        "" if raw is None else str(raw), params.get("parse_mode"), params.get(entities_key)
    )
    if key == "text" and not text.strip():
        raise bad_request("message text is empty")
    if len(text) > limit:
        raise bad_request("message is too long" if key == "text" else "message caption is too long")
    return text, entities


def caption_fields(params: dict) -> dict:
    if params.get("caption") is None:
        return {}
    caption, entities = formatted_text(params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
    return {"caption": caption, "caption_entities": entities} if entities else {"caption": caption}


def commands_key(params: dict) -> str:
    scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
    return f"{scope}|{params.get('language_code') or ''}"


async def read_params(request: web.Request) -> dict[str, Any]:
    """Decode query string, JSON, urlencoded or multipart parameters like the Bot API does."""
    params: dict[str, Any] = {k: decode_param(k, v) for k, v in request.query.items()}
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON request body") from None
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        for key, value in body.items():
            params[key] = decode_param(key, value) if key in JSON_FIELDS else value
        return params
    form = await request.post()
    uploads: dict[str, dict] = {}
    for key, value in form.items():
        if isinstance(value, web.FileField):
            content = value.file.read()
            uploads[key] = params[key] = {
                "filename": value.filename,
                "content_type": value.content_type,
                "size": len(content),
                "content": content,
            }
        else:
            params[key] = decode_param(key, value)
    for key, value in list(params.items()):  # "attach://name" points at another multipart field
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name in uploads:
                params[key] = uploads[name]
                params.pop(name, None)
    return params


def decode_param(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in STRING_FIELDS:
        return value
    try:
        decoded = json.loads(value, parse_constant=_reject)
    except ValueError:
        return value
    return value if isinstance(decoded, str) else decoded


def _reject(constant: str) -> Any:
    raise ValueError(constant)
