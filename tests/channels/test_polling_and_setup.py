"""`klokot-bot poll` and `klokot-bot set-webhooks` against the fake Bot API and Viber."""

from __future__ import annotations

from sqlalchemy import select

from bot.channels.telegram import ALLOWED_UPDATES, COMMANDS
from bot.db import Database
from bot.entry.polling import poll_once
from bot.entry.setup import set_webhooks
from bot.models import InboundUpdate
from tests.channels.conftest import TG_SECRET, VIBER_TOKEN, Bench
from tests.factories import make_runtime
from tests.fakes.telegram_api import FakeTelegramAPI, tg_callback_update, tg_command_update
from tests.fakes.viber_api import FakeViberAPI


async def test_long_polling_feeds_the_same_engine(bench: Bench, tg: FakeTelegramAPI) -> None:
    tg.queue_update(tg_command_update(501, 31))
    tg.queue_update(tg_callback_update(502, 31, "lang:en"))
    offset = await poll_once(bench.runtime, None, timeout=0)
    assert offset == 503
    await bench.deliver()
    texts = [c.params["text"] for c in tg.delivered("sendMessage")]
    assert len(texts) == 2 and "06/L-082" in texts[1]
    assert len(tg.calls_to("answerCallbackQuery")) == 1
    # The next poll confirms them (offset) and nothing is handled twice.
    assert await poll_once(bench.runtime, offset, timeout=0) == 503
    with bench.runtime.db.read_session() as session:
        assert len(session.scalars(select(InboundUpdate)).all()) == 2


async def test_set_webhooks_registers_secret_kinds_and_commands(
        db: Database, tg: FakeTelegramAPI, viber: FakeViberAPI) -> None:
    runtime = make_runtime(
        db, telegram_bot_token=tg.token, telegram_api_url=tg.url,
        telegram_webhook_secret=TG_SECRET, viber_auth_token=VIBER_TOKEN,
        viber_api_url=f"{viber.url}/pa", public_url="https://bot.klokot.example",
    )
    assert await set_webhooks(runtime) == 0
    [hook] = tg.calls_to("setWebhook")
    assert hook.params["url"] == "https://bot.klokot.example/webhooks/telegram"
    assert hook.params["secret_token"] == TG_SECRET
    assert hook.params["allowed_updates"] == ALLOWED_UPDATES
    [commands] = tg.calls_to("setMyCommands")
    assert [c["command"] for c in commands.params["commands"]] == [c for c, _ in COMMANDS]
    [viber_hook] = viber.calls_to("set_webhook")
    assert viber_hook.params["url"] == "https://bot.klokot.example/webhooks/viber"
    assert "conversation_started" in viber_hook.params["event_types"]


async def test_set_webhooks_refuses_a_weak_secret(db: Database, tg: FakeTelegramAPI) -> None:
    runtime = make_runtime(db, telegram_bot_token=tg.token, telegram_api_url=tg.url,
                           telegram_webhook_secret="short", public_url="https://x.example")
    assert await set_webhooks(runtime) == 2
    assert tg.calls_to("setWebhook") == []
