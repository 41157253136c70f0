"""A granted document travels as a file: Telegram's sendDocument with the
upload, Viber's file message with our signed link — through the real
libraries against the fake APIs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.db import utcnow
from bot.messages import FileRef
from bot.models import DocumentRequest, DocumentStatus
from bot.services import documents as service
from tests.channels.conftest import HEADERS_TG, VIBER_TOKEN, Bench
from tests.fakes.telegram_api import (
    FakeTelegramAPI,
    tg_callback_update,
    tg_command_update,
    tg_message_update,
)
from tests.fakes.viber_api import FakeViberAPI, viber_message_event, viber_signature

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def grant_with_file(bench: Bench, path: Path, url: str | None = None) -> str:
    with bench.runtime.db.session() as session:
        request = session.scalars(select(DocumentRequest)).one()
        service.transition(session, bench.runtime.profile, bench.runtime.catalogs, request,
                           DocumentStatus.granted, by="officer1", now=utcnow(),
                           files=[FileRef(path=str(path), url=url, file_name="zapisnik.pdf",
                                          mime_type="application/pdf")])
        return request.reference


async def test_telegram_gets_the_document_as_a_file(bench: Bench, tg: FakeTelegramAPI,
                                                    tmp_path: Path) -> None:
    user, n = 5001, iter(range(1, 100))

    async def send(update: dict[str, Any]) -> None:
        response = await bench.client.post("/webhooks/telegram", json=update, headers=HEADERS_TG)
        assert response.status_code == 200
        await bench.deliver()

    await send(tg_command_update(next(n), user, "/start"))
    await send(tg_callback_update(next(n), user, "lang:sq"))
    await send(tg_callback_update(next(n), user, "privacy:ok"))
    await send(tg_command_update(next(n), user, "/documents"))
    await send(tg_message_update(next(n), user, "Vendimi i Kuvendit për buxhetin e vitit 2026."))
    for payload in ("ddep:economy_finance", "dform:electronic", "durg:no", "dname:skip",
                    "dconf:yes"):
        await send(tg_callback_update(next(n), user, payload))
    assert "D-" in tg.delivered("sendMessage")[-1].params["text"]
    document = tmp_path / "zapisnik.pdf"
    document.write_bytes(PDF)
    reference = grant_with_file(bench, document, url="https://bot.klokot.example/files/t")
    await bench.deliver()
    [sent] = tg.delivered("sendDocument")
    assert str(sent.params["chat_id"]) == str(user)
    assert sent.params["document"].data == PDF
    assert reference in sent.params["caption"]


async def test_viber_gets_a_link_to_the_document(bench: Bench, viber: FakeViberAPI,
                                                 tmp_path: Path) -> None:
    user = "vDoc=="

    async def send(event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        response = await bench.client.post(
            "/webhooks/viber", content=body,
            headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200
        await bench.deliver()

    for text in ("/start", "lang:en", "privacy:ok", "/documents",
                 "The minutes of the assembly session of 12 March 2026.", "ddep:assembly",
                 "dform:electronic", "durg:no", "dname:skip", "dconf:yes"):
        await send(viber_message_event(user, text))
    document = tmp_path / "zapisnik.pdf"
    document.write_bytes(PDF)
    grant_with_file(bench, document, url="https://bot.klokot.example/files/signed-token")
    await bench.deliver()
    *_, file_call, caption_call = viber.delivered("send_message")
    file_message = file_call.params
    assert file_message["type"] == "file"  # the name, with its extension, ends the link
    assert file_message["media"] == "https://bot.klokot.example/files/signed-token/zapisnik.pdf"
    assert file_message["file_name"] == "zapisnik.pdf"
    assert file_message["size"] == len(PDF)
    caption = caption_call.params  # Viber's file messages carry no text: it follows
    assert caption["type"] == "text" and caption["text"]
