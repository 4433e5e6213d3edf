"""The fake Bot API must behave like Telegram as seen through the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from .bot_api import Call, FakeBotApi

CHAT = 4242


@pytest.fixture
async def bot_api():
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
async def bot(bot_api: FakeBotApi):
    async with Bot(bot_api.token, base_url=bot_api.base_url, base_file_url=bot_api.base_file_url) as bot:
        yield bot


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.title(), callback_data=d) for d in data]])


async def test_get_me(bot: Bot, bot_api: FakeBotApi) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "clinic_test_bot", True)
    assert bot_api.calls[0] == Call("getMe", {})
    assert bot_api.calls[0].status == 200


async def test_wrong_token_is_unauthorized(bot_api: FakeBotApi) -> None:
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with Bot("999:WRONG", base_url=bot_api.base_url):
            pass


async def test_html_message_with_keyboard_round_trips(bot: Bot, bot_api: FakeBotApi) -> None:
    sent = await bot.send_message(
        CHAT,
        '<b>Hello</b> <a href="https://example.org">Ana</a> &amp; 👋 <i>bye</i>',
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard("yes", "no"),
    )
    assert sent.text == "Hello Ana & 👋 bye"
    assert sent.chat_id == CHAT and sent.from_user.is_bot
    assert sent.reply_markup == keyboard("yes", "no")
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        (MessageEntity.BOLD, 0, 5),
        (MessageEntity.TEXT_LINK, 6, 3),
        (MessageEntity.ITALIC, 15, 3),  # the emoji counts as two UTF-16 code units
    ]
    assert sent.parse_entity(sent.entities[2]) == "bye"

    params = bot_api.calls[-1].params
    assert params["chat_id"] == CHAT and params["parse_mode"] == "HTML"
    assert params["reply_markup"]["inline_keyboard"][0][1] == {"text": "No", "callback_data": "no"}

    [stored] = bot_api.sent_messages(CHAT)
    assert stored["message_id"] == sent.message_id
    assert stored["reply_markup"] == keyboard("yes", "no").to_dict()
    assert bot_api.sent_messages(CHAT + 1) == []


async def test_text_at_the_limit_is_measured_after_stripping_tags(bot: Bot) -> None:
    sent = await bot.send_message(CHAT, f"<b>{'x' * 4096}</b>", parse_mode=ParseMode.HTML)
    assert len(sent.text) == 4096


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": "x" * 4097}, "message is too long"),
        ({"text": "   "}, "message text is empty"),
        ({"text": "<b>unclosed", "parse_mode": "HTML"}, "can't parse entities"),
        ({"text": "<b>x</i></b>", "parse_mode": "HTML"}, "can't parse entities"),
        ({"text": "<div>x</div>", "parse_mode": "HTML"}, 'Unsupported start tag "div"'),
        ({"text": "<span>x</span>", "parse_mode": "HTML"}, "tg-spoiler"),
        ({"text": "hi", "reply_markup": keyboard("x" * 65)}, "BUTTON_DATA_INVALID"),
        ({"text": "hi", "reply_parameters": {"message_id": 99}}, "message to be replied not"),
    ],
)
async def test_invalid_messages_are_bad_requests(bot: Bot, bot_api: FakeBotApi, kwargs: dict, error: str) -> None:
    # PTB drops the "Bad Request: " prefix and applies str.capitalize() to the rest
    with pytest.raises(BadRequest, match=f"(?i){error}"):
        await bot.send_message(CHAT, **kwargs)
    assert bot_api.calls[-1].status == 400
    assert bot_api.sent_messages() == []


async def test_64_byte_callback_data_is_fine(bot: Bot) -> None:
    await bot.send_message(CHAT, "hi", reply_markup=keyboard("é" * 32))


async def test_flood_control_raises_retry_after(bot: Bot, bot_api: FakeBotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # opt in to PTB's non-deprecated form
    bot_api.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "hi")
    assert caught.value.retry_after == dtm.timedelta(seconds=3)
    assert bot_api.calls[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    await bot.send_message(CHAT, "hi")  # only the next call fails


async def test_fail_next_times_and_case_insensitive_method(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.fail_next("SENDMESSAGE", status=400, description="Bad Request: chat not found", times=2)
    for _ in range(2):
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(CHAT, "hi")
    await bot.send_message(CHAT, "hi")


async def test_server_error_is_a_network_error(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.fail_next("sendMessage", status=500)
    with pytest.raises(NetworkError, match="Internal Server Error") as caught:
        await bot.send_message(CHAT, "hi")
    assert type(caught.value) is NetworkError  # BadRequest is a NetworkError subclass too


async def test_blocked_chat_is_forbidden_until_unblocked(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.block_chat(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hi")
    await bot.send_message(CHAT + 1, "other chats still work")
    bot_api.unblock_chat(CHAT)
    await bot.send_message(CHAT, "hi again")
    assert [m["text"] for m in bot_api.sent_messages()] == ["other chats still work", "hi again"]


async def test_edits_apply_and_mirror_telegram_errors(bot: Bot, bot_api: FakeBotApi) -> None:
    sent = await bot.send_message(CHAT, "Pick one", reply_markup=keyboard("a", "b"))

    edited = await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard("a"))
    assert edited.reply_markup == keyboard("a")
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard("a"))

    edited = await bot.edit_message_text("<b>Done</b>", CHAT, sent.message_id, parse_mode="HTML")
    assert edited.text == "Done" and edited.edit_date is not None
    assert edited.reply_markup is None  # editing text without a markup drops the keyboard
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("<b>Done</b>", CHAT, sent.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", CHAT, 999)

    [stored] = bot_api.sent_messages(CHAT)
    assert stored["text"] == "Done" and "reply_markup" not in stored


async def test_document_upload_is_recorded_and_downloadable(bot: Bot, bot_api: FakeBotApi) -> None:
    sent = await bot.send_document(
        CHAT,
        b"%PDF-1.4 consent",
        filename="consent.pdf",
        caption="<i>Please sign</i>",
        parse_mode="HTML",
    )
    assert sent.document.file_name == "consent.pdf" and sent.document.file_size == 16
    assert sent.caption == "Please sign" and sent.caption_entities[0].type == "italic"
    upload = bot_api.calls[-1].params["document"]
    assert (upload["filename"], upload["size"]) == ("consent.pdf", 16)

    file = await bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 consent"

    photo = await bot.send_photo(CHAT, b"\x89PNG fake", caption="scan")
    assert photo.photo[-1].file_size == 9
    assert [m["message_id"] for m in bot_api.sent_messages(CHAT)] == [1, 2]


async def test_commands_and_menu_button(bot: Bot, bot_api: FakeBotApi) -> None:
    await bot.set_my_commands([("start", "Begin"), ("help", "Get help")])
    assert [(c.command, c.description) for c in await bot.get_my_commands()] == [
        ("start", "Begin"),
        ("help", "Get help"),
    ]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Not Valid", "x")])
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    assert await bot.set_chat_menu_button() is True
    assert await bot.send_chat_action(CHAT, "typing") is True  # the catch-all
    assert bot_api.calls[-1] == Call("sendChatAction", {"chat_id": CHAT, "action": "typing"})


async def test_get_updates_long_poll_wakes_on_injection(bot: Bot, bot_api: FakeBotApi) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await bot_api.wait_for(lambda api: bool(api.calls_to("getUpdates")))
    queued = bot_api.user_sends(7, "/start@clinic_test_bot xyz", username="ana")
    [update] = await poll
    assert loop.time() - started < 2
    assert update.update_id == queued["update_id"]
    assert update.message.text == "/start@clinic_test_bot xyz"
    assert update.message.entities[0].type == MessageEntity.BOT_COMMAND
    assert update.message.entities[0].length == len("/start@clinic_test_bot")
    assert update.effective_user.username == "ana"

    # offset confirms: the update is gone, and an empty poll with timeout=0 returns at once
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()


async def test_raw_wire_format(bot_api: FakeBotApi) -> None:
    url = f"{bot_api.base_url}{bot_api.token}"
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/getme") as response:  # method names ignore case
            assert (await response.json())["result"]["username"] == "clinic_test_bot"
        body = {"chat_id": CHAT, "text": "123", "reply_markup": json.dumps(markup)}
        async with http.post(f"{url}/sendMessage", json=body) as response:
            assert response.status == 200
            assert (await response.json())["result"]["text"] == "123"
        async with http.post(f"{bot_api.base_url}0:BAD/getMe") as response:
            assert response.status == 401
            assert await response.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
    assert [c.method for c in bot_api.calls] == ["getMe", "sendMessage", "getMe"]
    assert bot_api.calls[1].params == {"chat_id": CHAT, "text": "123", "reply_markup": markup}


async def test_webhook_blocks_polling_and_allowed_updates_filter(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.user_sends(7, "hello")
    sent = await bot.send_message(7, "Pick", reply_markup=keyboard("a"))
    bot_api.user_presses(7, "a", message_id=sent.message_id)

    await bot.set_webhook("https://clinic.example/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert (await bot.get_webhook_info()).pending_update_count == 2
    await bot.delete_webhook()

    [update] = await bot.get_updates(allowed_updates=["callback_query"])
    assert update.callback_query.data == "a"
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


async def test_wait_for_times_out_with_recent_calls(bot: Bot, bot_api: FakeBotApi) -> None:
    await bot.send_message(CHAT, "first")
    with pytest.raises(TimeoutError, match=r"(?s)'never'.*sendMessage -> 200"):
        await bot_api.wait_for_message(CHAT, contains="never", timeout=0.05)


async def test_presses_must_match_a_button(bot: Bot, bot_api: FakeBotApi) -> None:
    sent = await bot.send_message(CHAT, "Pick", reply_markup=keyboard("a"))
    with pytest.raises(ValueError, match="no button"):
        bot_api.user_presses(CHAT, "b", message_id=sent.message_id)
    with pytest.raises(LookupError):
        bot_api.user_presses(CHAT, "a", message_id=sent.message_id + 1)
    update = bot_api.user_presses(CHAT, "b", message_id=sent.message_id, require_button=False)
    assert update["callback_query"]["message"]["text"] == "Pick"


@pytest.mark.parametrize("command", ["/start abc", "/start@clinic_test_bot abc"])
async def test_application_polls_handles_and_replies(bot_api: FakeBotApi, command: str) -> None:
    seen_args: list[list[str]] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen_args.append(list(context.args))
        await update.message.reply_text(f"Welcome, code {context.args[0]}", reply_markup=keyboard("confirm"))

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("Thanks")
        await update.callback_query.edit_message_text(f"You chose {update.callback_query.data}")

    app = (
        ApplicationBuilder()
        .token(bot_api.token)
        .base_url(bot_api.base_url)
        .base_file_url(bot_api.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        bot_api.user_sends(CHAT, command)
        welcome = await bot_api.wait_for_message(CHAT, contains="Welcome, code abc")
        assert seen_args == [["abc"]]

        bot_api.user_presses(CHAT, "confirm", message_id=welcome["message_id"])
        await bot_api.wait_for_message(CHAT, contains="You chose confirm")
        [answer] = bot_api.calls_to("answerCallbackQuery")
        assert answer.status == 200 and answer.params["text"] == "Thanks"
    finally:
        loop = asyncio.get_running_loop()
        stopping = loop.time()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        assert loop.time() - stopping < 2

    [message] = bot_api.sent_messages(CHAT)
    assert message["text"] == "You chose confirm" and "reply_markup" not in message
    # the long poll PTB abandoned on stop is still open (status None) until it times out
    failed = [c.summary() for c in bot_api.calls if c.status not in (200, None)]
    assert failed == []
