"""The fake Telegram and Viber servers behave as specified, driven by the real libraries."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from viberbot.api.api import Api
from viberbot.api.bot_configuration import BotConfiguration
from viberbot.api.messages import TextMessage
from viberbot.api.viber_requests import (
    ViberConversationStartedRequest,
    ViberDeliveredRequest,
    ViberFailedRequest,
    ViberMessageRequest,
    ViberSeenRequest,
    ViberSubscribedRequest,
    ViberUnsubscribedRequest,
    create_request,
)

from tests.fakes._base import UploadedFile
from tests.fakes.telegram_api import (
    FakeTelegramAPI,
    tg_callback_update,
    tg_command_update,
    tg_contact_update,
    tg_edited_message_update,
    tg_location_update,
    tg_message_update,
    tg_my_chat_member_update,
    tg_photo_update,
    tg_sticker_update,
)
from tests.fakes.viber_api import (
    FakeViberAPI,
    viber_client_status,
    viber_conversation_started,
    viber_delivered,
    viber_failed,
    viber_message_event,
    viber_seen,
    viber_signature,
    viber_subscribed,
    viber_unsubscribed,
    viber_webhook_event,
)

VIBER_TOKEN = "viber-test-token"
# PTB 22.8 warns about RetryAfter.retry_after's int->timedelta change while *constructing* it
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def tg() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegramAPI) -> AsyncIterator[Bot]:
    async with Bot(
        tg.token, base_url=f"{tg.url}/bot", base_file_url=f"{tg.url}/file/bot"
    ) as telegram_bot:
        yield telegram_bot


@pytest.fixture
def viber() -> Iterator[FakeViberAPI]:
    with FakeViberAPI(VIBER_TOKEN) as server:
        yield server


def retry_seconds(exc: RetryAfter) -> float:
    """PTB 22 returns int (with a deprecation warning) or timedelta (PTB_TIMEDELTA=true)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def text_message(receiver: str, text: str = "Zdravo") -> dict[str, Any]:
    return {
        "receiver": receiver,
        "type": "text",
        "text": text,
        "sender": {"name": "Opština Klokot"},
    }


# --------------------------------------------------------------------------- telegram


async def test_get_me_and_send_message_with_inline_keyboard(tg: FakeTelegramAPI, bot: Bot) -> None:
    assert bot.username == "klokot_test_bot"
    assert bot.id == 123
    assert tg.calls_to("getMe")[0].status == 200

    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Da", callback_data="yes"),
                InlineKeyboardButton("Ne", callback_data="no"),
            ]
        ]
    )
    msg = await bot.send_message(chat_id=42, text="Zdravo 👋", reply_markup=markup)
    msg2 = await bot.send_message(chat_id=42, text="Drugi")

    assert msg.message_id == 1 and msg2.message_id == 2
    assert msg.chat.id == 42 and msg.chat.type == "private"
    assert msg.text == "Zdravo 👋"
    assert msg.from_user is not None and msg.from_user.is_bot
    assert msg.reply_markup == markup

    call = tg.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == 42
    assert call.params["text"] == "Zdravo 👋"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Da", "callback_data": "yes"}, {"text": "Ne", "callback_data": "no"}]
        ]
    }
    assert call.status == 200 and call.response["result"]["message_id"] == 1
    assert len(tg.delivered()) == 2


async def test_injected_429_raises_retry_after(tg: FakeTelegramAPI, bot: Bot) -> None:
    tg.fail_next("sendMessage", retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(chat_id=42, text="one")
    assert retry_seconds(info.value) == 7
    await bot.send_message(chat_id=42, text="two")

    assert [c.status for c in tg.calls_to("sendMessage")] == [429, 200]
    assert [c.params["text"] for c in tg.delivered("sendMessage")] == ["two"]
    assert tg.count_429 == 1
    assert tg.calls_to("sendMessage")[0].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }


async def test_fail_next_times_and_server_errors(tg: FakeTelegramAPI, bot: Bot) -> None:
    tg.fail_next("sendMessage", status=502, times=2)
    tg.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(chat_id=1, text="x")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):  # PTB strips "Bad Request: "
        await bot.send_message(chat_id=1, text="x")
    await bot.send_message(chat_id=1, text="x")
    assert [c.status for c in tg.calls_to("sendMessage")] == [502, 502, 400, 200]
    assert tg.count_429 == 0


async def test_blocked_chat_raises_forbidden(tg: FakeTelegramAPI, bot: Bot) -> None:
    tg.block_chat(666)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(chat_id=666, text="hello?")
    with pytest.raises(Forbidden):
        await bot.send_document(chat_id=666, document=b"data", filename="a.txt")
    await bot.send_message(chat_id=7, text="fine")

    assert [c.status for c in tg.calls_to("sendMessage")] == [403, 200]
    assert tg.calls_to("sendMessage")[0].response["error_code"] == 403
    assert [c.params["chat_id"] for c in tg.delivered()] == [7]


async def test_get_file_and_download(tg: FakeTelegramAPI, bot: Bot) -> None:
    tg.add_file("PHOTO-1", b"\xff\xd8\xffjpeg-bytes")
    tg_file = await bot.get_file("PHOTO-1")
    assert tg_file.file_path == f"{tg.url}/file/bot{tg.token}/photos/PHOTO-1.jpg"
    assert tg_file.file_size == len(b"\xff\xd8\xffjpeg-bytes")
    data = await tg_file.download_as_bytearray()
    assert bytes(data) == b"\xff\xd8\xffjpeg-bytes"
    assert tg.downloads == ["photos/PHOTO-1.jpg"]

    missing = await bot.get_file("NOPE")
    with pytest.raises(InvalidToken):  # PTB maps any HTTP 404 to InvalidToken
        await missing.download_as_bytearray()


async def test_send_document_upload_and_photo(tg: FakeTelegramAPI, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Meni", callback_data="menu")]])
    msg = await bot.send_document(
        chat_id=42, document=b"%PDF-1.4 test", filename="potvrda.pdf", caption="Vaša potvrda",
        reply_markup=markup,
    )  # fmt: skip
    assert msg.document is not None
    assert msg.document.file_name == "potvrda.pdf"
    assert msg.document.file_size == len(b"%PDF-1.4 test")
    assert msg.caption == "Vaša potvrda"

    call = tg.calls_to("sendDocument")[0]
    upload = call.params["document"]
    assert isinstance(upload, UploadedFile)
    assert upload.data == b"%PDF-1.4 test" and upload.filename == "potvrda.pdf"
    assert call.params["chat_id"] == 42
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Meni", "callback_data": "menu"}]]
    }
    # the uploaded bytes can be fetched back through getFile
    back = await bot.get_file(msg.document.file_id)
    assert bytes(await back.download_as_bytearray()) == b"%PDF-1.4 test"

    photo_msg = await bot.send_photo(chat_id=42, photo="https://example.org/map.png")
    assert photo_msg.photo and photo_msg.photo[-1].width == 1280


async def test_validation_like_telegram(tg: FakeTelegramAPI, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(chat_id=1, text="x" * 4097)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(chat_id=1, text="x", reply_markup=too_long)
    assert tg.delivered() == []


async def test_chats_as_a_phone_shows_them_and_edits_refused_like_telegram(
        tg: FakeTelegramAPI, bot: Bot) -> None:
    keys = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="y")]])
    first = await bot.send_message(chat_id=7, text="Question?", reply_markup=keys)
    contact = ReplyKeyboardMarkup([[KeyboardButton("Share", request_contact=True)]])
    await bot.send_message(chat_id=7, text="Your number?", reply_markup=contact)
    assert [m["message_id"] for m in tg.live_keyboards(7)] == [first.message_id]
    assert (tg.reply_keyboard(7) or {})["keyboard"][0][0]["request_contact"] is True
    await bot.send_message(chat_id=7, text="Thanks", reply_markup=ReplyKeyboardRemove())
    assert tg.reply_keyboard(7) is None

    edited = await bot.edit_message_text(chat_id=7, message_id=first.message_id,
                                         text="Question?\n\n✓ Yes")
    assert isinstance(edited, Message) and edited.text == "Question?\n\n✓ Yes"
    assert tg.live_keyboards(7) == []  # an edit without reply_markup takes the buttons away
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(chat_id=7, message_id=first.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text(chat_id=8, message_id=first.message_id, text="x")
    tg.make_uneditable(7, first.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message can't be edited"):
        await bot.edit_message_text(chat_id=7, message_id=first.message_id, text="y")
    tg.delete_by_user(7, first.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_reply_markup(chat_id=7, message_id=first.message_id)
    document = await bot.send_document(chat_id=7, document=b"%PDF", filename="a.pdf")
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text(chat_id=7, message_id=document.message_id, text="z")


async def test_forgetting_the_calls_keeps_the_chats(tg: FakeTelegramAPI, bot: Bot) -> None:
    """The memory bench forgets the calls between batches; a later reply that
    edits an earlier message must still find it (a reset made 500 edits fail)."""
    keys = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="y")]])
    first = await bot.send_message(chat_id=7, text="Question?", reply_markup=keys)
    tg.forget_calls()
    assert tg.calls == []
    await bot.edit_message_reply_markup(chat_id=7, message_id=first.message_id)
    assert [call.status for call in tg.calls] == [200] and tg.live_keyboards(7) == []
    second = await bot.send_message(chat_id=7, text="Next")
    assert second.message_id != first.message_id


async def test_wrong_token_and_unknown_method(tg: FakeTelegramAPI) -> None:
    async with httpx.AsyncClient() as client:
        resp = await client.post(f"{tg.url}/bot999:WRONG/getMe")
        assert resp.status_code == 401
        assert resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        resp = await client.get(f"{tg.url}/bot{tg.token}/noSuchMethod")
        assert resp.status_code == 404
        assert resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}

    wrong = Bot("999:WRONG", base_url=f"{tg.url}/bot", base_file_url=f"{tg.url}/file/bot")
    with pytest.raises(InvalidToken):
        await wrong.initialize()
    async with Bot(tg.token, base_url=f"{tg.url}/bot") as good:
        with pytest.raises(EndPointNotFound):
            await good.do_api_request("noSuchMethod")
    assert [c.status for c in tg.calls] == [401, 404, 401, 200, 404]


async def test_get_updates_offset_and_long_poll(tg: FakeTelegramAPI, bot: Bot) -> None:
    tg.queue_update(tg_message_update(10, 5, "prvi"))
    tg.queue_update(tg_command_update(11, 5))
    updates = await bot.get_updates(timeout=5)
    assert [u.update_id for u in updates] == [10, 11]
    assert updates[0].message is not None and updates[0].message.text == "prvi"

    started = time.monotonic()
    assert await bot.get_updates(offset=12, timeout=5) == ()
    assert time.monotonic() - started < 2.5  # waits at most 1 s
    assert tg.pending_updates == []

    # a waiting long poll is woken up by a new update
    timer = threading.Timer(0.2, tg.queue_update, args=(tg_callback_update(12, 5, "yes"),))
    timer.start()
    started = time.monotonic()
    updates = await bot.get_updates(offset=12, timeout=5)
    timer.join()
    assert [u.update_id for u in updates] == [12]
    assert updates[0].callback_query is not None and updates[0].callback_query.data == "yes"
    assert time.monotonic() - started < 0.9
    assert tg.calls_to("getUpdates")[-1].params["offset"] == 12


async def test_rate_limit_per_chat_and_global(tg: FakeTelegramAPI, bot: Bot) -> None:
    tg.rate_limit(None, per_chat_per_second=1)
    await bot.send_message(chat_id=1, text="a")
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(chat_id=1, text="b")
    assert retry_seconds(info.value) == 1
    await bot.send_message(chat_id=2, text="c")  # other chat unaffected
    assert tg.count_429 == 1

    tg.reset()
    tg.rate_limit(3)
    results = []
    for i in range(5):
        try:
            await bot.send_message(chat_id=10 + i, text="x")
            results.append("ok")
        except RetryAfter:
            results.append("429")
    assert results == ["ok", "ok", "ok", "429", "429"]
    assert tg.count_429 == 2 and len(tg.delivered()) == 3
    await asyncio.sleep(1.05)  # the window slides
    await bot.send_message(chat_id=99, text="later")
    assert len(tg.delivered()) == 4


async def test_webhook_commands_and_callbacks(tg: FakeTelegramAPI, bot: Bot) -> None:
    assert await bot.set_webhook("https://bot.example.org/tg", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example.org/tg" and info.pending_update_count == 0
    with pytest.raises(Conflict):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""
    assert tg.calls_to("setWebhook")[0].params["secret_token"] == "s3cret"

    assert await bot.set_my_commands([("start", "Početak"), ("help", "Pomoć")])
    assert tg.calls_to("setMyCommands")[0].params["commands"] == [
        {"command": "start", "description": "Početak"},
        {"command": "help", "description": "Pomoć"},
    ]
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert await bot.answer_callback_query("4382", text="OK")
    assert tg.calls_to("answerCallbackQuery")[0].params == {
        "callback_query_id": "4382",
        "text": "OK",
    }


def test_raw_form_json_and_get_requests(tg: FakeTelegramAPI) -> None:
    base = f"{tg.url}/bot{tg.token}"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    with httpx.Client() as client:
        r1 = client.post(
            f"{base}/sendMessage",
            data={"chat_id": "5", "text": "[not json]", "reply_markup": json.dumps(markup)},
        )
        payload = {"chat_id": -1001, "text": "grupa", "reply_markup": json.dumps(markup)}
        r2 = client.post(f"{base}/sendMessage", json=payload)
        r3 = client.get(f"{base}/sendMessage", params={"chat_id": "@klokot", "text": "kanal"})
    assert r1.json()["ok"] and r2.json()["ok"] and r3.json()["ok"]
    assert r3.json()["result"]["chat"]["type"] == "channel"
    p1, p2, p3 = (c.params for c in tg.calls_to("sendMessage"))
    assert p1 == {"chat_id": 5, "text": "[not json]", "reply_markup": markup}
    assert p2 == {"chat_id": -1001, "text": "grupa", "reply_markup": markup}
    assert p3 == {"chat_id": "@klokot", "text": "kanal"}


def test_wait_for_sync_and_timeout_message(tg: FakeTelegramAPI) -> None:
    def later() -> None:
        time.sleep(0.2)
        httpx.post(f"{tg.url}/bot{tg.token}/sendMessage", json={"chat_id": 1, "text": "hi"})

    thread = threading.Thread(target=later)
    thread.start()
    calls = tg.wait_for(1, timeout=3, method="sendMessage")
    thread.join()
    assert calls[0].params["text"] == "hi"
    tg.wait_for(lambda cs: any(c.params.get("text") == "hi" for c in cs))

    with pytest.raises(AssertionError, match=r"timed out .* at least 2 call\(s\) to 'sendMessage'"):
        tg.wait_for(2, timeout=0.2, method="sendMessage")

    tg.reset()
    assert tg.calls == [] and tg.count_429 == 0


async def test_wait_for_async_does_not_block_the_loop(tg: FakeTelegramAPI, bot: Bot) -> None:
    async def send_later() -> None:
        await asyncio.sleep(0.1)
        await bot.send_message(chat_id=3, text="async")

    task = asyncio.create_task(send_later())
    calls = await tg.wait_for_async(1, timeout=3, method="sendMessage")
    await task
    assert calls[0].params["chat_id"] == 3


def test_stop_closes_the_port() -> None:
    server = FakeTelegramAPI().start()
    url = server.url
    with httpx.Client() as client:
        assert client.get(f"{url}/bot{server.token}/getMe").status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            client.get(f"{url}/bot{server.token}/getMe")
    with pytest.raises(RuntimeError):
        _ = server.url


UPDATE_BUILDERS: list[Callable[[], dict[str, Any]]] = [
    lambda: tg_message_update(1, 501, "Zdravo", language_code="sr"),
    lambda: tg_command_update(2, 501, "/start ref-42"),
    lambda: tg_callback_update(3, 501, "menu:taxes", message_id=9),
    lambda: tg_contact_update(4, 501, "+38345123456"),
    lambda: tg_contact_update(5, 501, "+38345123456", own=False),
    lambda: tg_location_update(6, 501, 42.37, 21.37),
    lambda: tg_photo_update(7, 501, "PHOTO-1"),
    lambda: tg_sticker_update(8, 501),
    lambda: tg_my_chat_member_update(9, 501),
    lambda: tg_my_chat_member_update(10, 501, "member"),
    lambda: tg_edited_message_update(11, 501, "ispravka"),
]


@pytest.mark.parametrize("build", UPDATE_BUILDERS)
def test_update_builders_parse(build: Callable[[], dict[str, Any]]) -> None:
    data = build()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "unknown field" style warnings either
        update = Update.de_json(data, None)
    assert update.update_id == data["update_id"]
    assert update.effective_user is not None and update.effective_user.id == 501
    assert update.effective_chat is not None and update.effective_chat.id == 501


def test_update_builder_details() -> None:
    cmd = Update.de_json(tg_command_update(1, 5, "/start ref-42"), None)
    assert cmd.message is not None
    assert list(cmd.message.parse_entities().values()) == ["/start"]
    own = Update.de_json(tg_contact_update(2, 5, "+381"), None)
    other = Update.de_json(tg_contact_update(3, 5, "+381", own=False), None)
    assert own.message and own.message.contact and own.message.contact.user_id == 5
    assert other.message and other.message.contact and other.message.contact.user_id != 5
    photo = Update.de_json(tg_photo_update(4, 5, "PH"), None)
    assert photo.message and photo.message.photo[-1].file_id == "PH"
    kicked = Update.de_json(tg_my_chat_member_update(5, 5), None)
    assert kicked.my_chat_member and kicked.my_chat_member.new_chat_member.status == "kicked"
    edited = Update.de_json(tg_edited_message_update(6, 5, "x"), None)
    assert edited.edited_message and edited.edited_message.edit_date is not None
    cb = Update.de_json(tg_callback_update(7, 5, "d", message_id=9), None)
    assert cb.callback_query and cb.callback_query.message
    assert cb.callback_query.message.message_id == 9


# --------------------------------------------------------------------------- viber


def test_viber_send_message_with_and_without_token(viber: FakeViberAPI) -> None:
    url = f"{viber.url}/pa/send_message"
    with httpx.Client() as client:
        ok1 = client.post(url, json=text_message("u1"), headers={"X-Viber-Auth-Token": VIBER_TOKEN})
        ok2 = client.post(url, json=text_message("u2"), headers={"X-Viber-Auth-Token": VIBER_TOKEN})
        missing = client.post(url, json=text_message("u1"))
        wrong = client.post(url, json=text_message("u1"), headers={"X-Viber-Auth-Token": "nope"})

    assert ok1.status_code == 200
    body1, body2 = ok1.json(), ok2.json()
    assert body1["status"] == 0 and body1["status_message"] == "ok"
    assert body1["chat_hostname"] == "SN-CHAT-01_"
    assert isinstance(body1["message_token"], int)
    assert body2["message_token"] == body1["message_token"] + 1
    for resp in (missing, wrong):
        assert resp.status_code == 200
        assert resp.json() == {"status": 2, "status_message": "invalidAuthToken"}

    sent = viber.calls_to("send_message")
    assert len(sent) == 4
    assert sent[0].params["receiver"] == "u1" and sent[0].params["text"] == "Zdravo"
    assert [c.params["receiver"] for c in viber.delivered()] == ["u1", "u2"]


def test_viber_failure_injection(viber: FakeViberAPI) -> None:
    headers = {"X-Viber-Auth-Token": VIBER_TOKEN}
    url = f"{viber.url}/pa/send_message"
    viber.fail_next(12, "tooManyRequests")
    viber.fail_next(5, "receiverNotRegistered", times=2)
    viber.fail_next_http(503)
    viber.unsubscribe("gone")
    with httpx.Client(headers=headers) as client:
        http_fail = client.post(url, json=text_message("u1"))
        statuses = [client.post(url, json=text_message("u1")).json()["status"] for _ in range(3)]
        gone = client.post(url, json=text_message("gone")).json()
        ok = client.post(url, json=text_message("u1")).json()
        bad = client.post(url, json={"receiver": "u1", "type": "text", "text": "no sender"})
    assert http_fail.status_code == 503
    assert statuses == [12, 5, 5]
    assert gone["status"] == 6 and gone["status_message"] == "notSubscribed"
    assert ok["status"] == 0
    assert bad.json()["status"] == 3
    assert len(viber.delivered()) == 1
    assert [c.status for c in viber.calls_to("send_message")][:2] == [503, 200]


def test_viber_rate_limit_http_429(viber: FakeViberAPI) -> None:
    viber.rate_limit(2)
    url = f"{viber.url}/pa/send_message"
    with httpx.Client(headers={"X-Viber-Auth-Token": VIBER_TOKEN}) as client:
        codes = [client.post(url, json=text_message(f"u{i}")).status_code for i in range(4)]
        time.sleep(1.05)
        later = client.post(url, json=text_message("u9")).status_code
    assert codes == [200, 200, 429, 429]
    assert later == 200
    assert viber.count_429 == 2
    assert len(viber.delivered()) == 3


def test_viber_account_webhook_user_and_broadcast(viber: FakeViberAPI) -> None:
    viber.unsubscribe("u2")
    with httpx.Client(headers={"X-Viber-Auth-Token": VIBER_TOKEN}) as client:
        hook = client.post(
            f"{viber.url}/pa/set_webhook",
            json={"url": "https://bot.example.org/viber", "event_types": ["delivered", "failed"]},
        ).json()
        account = client.post(f"{viber.url}/pa/get_account_info", json={}).json()
        user = client.post(f"{viber.url}/pa/get_user_details", json={"id": "u1"}).json()
        broadcast = client.post(
            f"{viber.url}/pa/broadcast_message",
            json={**text_message("ignored"), "broadcast_list": ["u1", "u2", "u3"]},
        ).json()
    assert hook["status"] == 0 and hook["event_types"] == ["delivered", "failed"]
    assert viber.webhook_url == "https://bot.example.org/viber"
    assert account["status"] == 0 and account["webhook"] == "https://bot.example.org/viber"
    assert {"id", "name", "uri", "subscribers_count", "members"} <= account.keys()
    assert user["user"]["id"] == "u1"
    assert broadcast["status"] == 0
    assert broadcast["failed_list"] == [
        {"receiver": "u2", "status": 6, "status_message": "Not subscribed"}
    ]


def _viberbot_api(viber: FakeViberAPI, token: str = VIBER_TOKEN) -> Api:
    api = Api(BotConfiguration(auth_token=token, name="Opština Klokot", avatar=None))
    # viberbot 1.0.12 hard-codes https://chatapi.viber.com/pa; redirect it to the fake
    api._request_sender._viber_bot_api_url = f"{viber.url}/pa"
    return api


def test_real_viberbot_api_against_fake(viber: FakeViberAPI) -> None:
    api = _viberbot_api(viber)
    assert api.set_webhook("https://bot.example.org/viber") == [
        "delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started",
    ]  # fmt: skip
    tokens = api.send_messages("u1", [TextMessage(text="Zdravo"), TextMessage(text="opet")])
    assert len(tokens) == 2 and tokens[1] == tokens[0] + 1
    assert api.get_account_info()["name"] == "Opština Klokot"
    assert api.get_user_details("u1")["id"] == "u1"
    assert api.unset_webhook() is not None and viber.webhook_url == ""
    sent = viber.calls_to("send_message")[0].params
    # viberbot puts the token in the JSON body and sends no X-Viber-Auth-Token header
    assert sent["auth_token"] == VIBER_TOKEN and sent["sender"]["name"] == "Opština Klokot"

    viber.unsubscribe("u2")
    with pytest.raises(Exception, match="status: 6, message: notSubscribed"):
        api.send_messages("u2", TextMessage(text="x"))
    with pytest.raises(Exception, match="status: 2, message: invalidAuthToken"):
        _viberbot_api(viber, token="wrong").send_messages("u1", TextMessage(text="x"))


def test_header_only_mode_rejects_body_token() -> None:
    with (
        FakeViberAPI(VIBER_TOKEN, accept_body_token=False) as strict,
        pytest.raises(Exception, match="invalidAuthToken"),
    ):
        _viberbot_api(strict).send_messages("u1", TextMessage(text="x"))


def test_viber_signature_matches_viberbot(viber: FakeViberAPI) -> None:
    body, headers = viber.signed(viber_message_event("u1", "Zdravo"))
    assert headers["X-Viber-Content-Signature"] == viber.sign(body)
    assert viber.sign(body) == viber_signature(body, VIBER_TOKEN)
    api = Api(BotConfiguration(auth_token=VIBER_TOKEN, name="x", avatar=None))
    assert api.verify_signature(body, viber.sign(body))
    assert not api.verify_signature(body + b" ", viber.sign(body))
    assert isinstance(api.parse_request(body), ViberMessageRequest)


EVENT_BUILDERS: list[tuple[Callable[[], dict[str, Any]], type]] = [
    (lambda: viber_message_event("u1", "Zdravo", language="sr"), ViberMessageRequest),
    (lambda: viber_message_event("u1", contact={"name": "A", "phone_number": "+383"}),
     ViberMessageRequest),
    (lambda: viber_message_event("u1", location=(42.37, 21.37)), ViberMessageRequest),
    (lambda: viber_message_event("u1", media="https://example.org/p.jpg"), ViberMessageRequest),
    (lambda: viber_message_event("u1", media="https://example.org/d.pdf", file_name="d.pdf"),
     ViberMessageRequest),
    (lambda: viber_message_event("u1", sticker_id=40133), ViberMessageRequest),
    (lambda: viber_conversation_started("u1", subscribed=True), ViberConversationStartedRequest),
    (lambda: viber_subscribed("u1"), ViberSubscribedRequest),
    (lambda: viber_unsubscribed("u1"), ViberUnsubscribedRequest),
    (lambda: viber_delivered("u1", 5012), ViberDeliveredRequest),
    (lambda: viber_seen("u1", 5012), ViberSeenRequest),
    (lambda: viber_failed("u1", 5012, "blocked"), ViberFailedRequest),
]  # fmt: skip


@pytest.mark.parametrize(("build", "cls"), EVENT_BUILDERS)
def test_viber_event_builders_parse(build: Callable[[], dict[str, Any]], cls: type) -> None:
    event = build()
    assert {"event", "timestamp", "chat_hostname", "message_token"} <= event.keys()
    request: Any = create_request(event)
    assert request.timestamp == event["timestamp"]
    assert type(request) is cls


def test_viber_event_builder_details() -> None:
    msg = create_request(viber_message_event("u1", contact={"name": "A", "phone_number": "+383"}))
    assert msg.sender.id == "u1" and msg.message.contact.phone_number == "+383"
    loc = create_request(viber_message_event("u1", location={"lat": 42.37, "lon": 21.37}))
    assert loc.message.location.latitude == 42.37
    started = create_request(viber_conversation_started("u1", language="sr"))
    assert started.user.language == "sr" and started.subscribed is False
    assert create_request(viber_webhook_event()).event_type == "webhook"
    with pytest.raises(Exception, match="not supported"):
        create_request(viber_client_status("u1"))
