"""/mydata through both channels' real libraries: Telegram uploads the
file; Viber gets a signed link, ending with the file's name and extension,
that serves it (a forged link does not), then the caption as a text message
with the keyboard — Viber's file messages carry no text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.app import create_app
from bot.db import Database
from bot.i18n import Catalogs
from bot.worker import build_sender
from tests.channels.conftest import HEADERS_TG, VIBER_TOKEN, Bench
from tests.fakes.telegram_api import FakeTelegramAPI, tg_callback_update, tg_command_update
from tests.fakes.viber_api import FakeViberAPI, viber_message_event, viber_signature

T = Catalogs()


async def test_telegram_gets_the_file(bench: Bench, tg: FakeTelegramAPI) -> None:
    user, n = 8001, iter(range(1, 50))
    for update in (tg_command_update(next(n), user, "/start"),
                   tg_callback_update(next(n), user, "lang:en"),
                   tg_callback_update(next(n), user, "privacy:ok"),
                   tg_command_update(next(n), user, "/mydata")):
        response = await bench.client.post("/webhooks/telegram", json=update,
                                           headers=HEADERS_TG)
        assert response.status_code == 200
        await bench.deliver()
    [sent] = tg.delivered("sendDocument")
    data = json.loads(sent.params["document"].data)
    assert data["accounts"][0]["user_id"] == str(user)
    assert data["citizen"]["language"] == "en"


@pytest.fixture
def public_url() -> str:
    return "http://bot.test"


async def test_viber_gets_a_signed_link(db: Database, viber: FakeViberAPI, tmp_path: Any,
                                        public_url: str) -> None:
    import httpx

    from tests.factories import make_runtime

    runtime = make_runtime(db, data_dir=tmp_path, viber_auth_token=VIBER_TOKEN,
                           viber_api_url=f"{viber.url}/pa", public_url=public_url,
                           viber_chat_burst=20, viber_chat_rate_per_second=50.0)
    app = create_app(runtime=runtime, run_sender=False)
    sender = build_sender(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=public_url) as client:
        for text in ("/start", "lang:sq", "privacy:ok", "/mydata"):
            body = json.dumps(viber_message_event("vMyData==", text, language="sq")).encode()
            response = await client.post("/webhooks/viber", content=body, headers={
                "X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
            assert response.status_code == 200
            await sender.drain()
        *_, file_call, caption_call = viber.delivered("send_message")
        file_message: dict[str, Any] = file_call.params
        assert file_message["type"] == "file" and file_message["file_name"].endswith(".json")
        link = file_message["media"]
        assert link.startswith(f"{public_url}/files/x")
        assert link.endswith(f"/{file_message['file_name']}")  # Viber wants the extension
        assert "keyboard" not in file_message and "text" not in file_message
        caption: dict[str, Any] = caption_call.params
        assert caption["type"] == "text"
        assert caption["text"] == T.gettext("sq", "mydata.file_caption")
        assert [b["ActionBody"] for b in caption["keyboard"]["Buttons"]] == ["nav:menu"]
        served = await client.get(link.removeprefix(public_url))
        assert served.status_code == 200
        assert served.json()["accounts"][0]["user_id"] == "vMyData=="
        token, name = link.removeprefix(f"{public_url}/files/").split("/")
        forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
        assert (await client.get(f"/files/{forged}/{name}")).status_code == 404
    await runtime.close()


async def test_after_forget_the_earlier_mydata_link_answers_410(
        db: Database, viber: FakeViberAPI, tmp_path: Any, public_url: str) -> None:
    """An earlier /mydata file still downloaded through its link for 7 days
    after /forget (security review, item 7)."""
    import httpx

    from tests.factories import make_runtime

    runtime = make_runtime(db, data_dir=tmp_path, viber_auth_token=VIBER_TOKEN,
                           viber_api_url=f"{viber.url}/pa", public_url=public_url,
                           viber_chat_burst=20, viber_chat_rate_per_second=50.0)
    app = create_app(runtime=runtime, run_sender=False)
    sender = build_sender(runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=public_url) as client:
        async def say(text: str) -> None:
            body = json.dumps(viber_message_event("vForget==", text, language="en")).encode()
            response = await client.post("/webhooks/viber", content=body, headers={
                "X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
            assert response.status_code == 200
            await sender.drain()

        for text in ("/start", "lang:en", "privacy:ok", "/mydata"):
            await say(text)
        link = viber.delivered("send_message")[-2].params["media"].removeprefix(public_url)
        assert (await client.get(link)).status_code == 200
        await say("/forget")
        await say("forget:yes")
        gone = await client.get(link)
        assert gone.status_code == 410 and gone.json()["code"] == "gone"
        exports = tmp_path / "media" / "exports"
        assert exports.is_dir() and list(exports.glob("**/*.json")) == []
    await runtime.close()
