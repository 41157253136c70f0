"""A complaint with a photo and a location through both channels' real
libraries against the fake APIs: the worker fetches the photo (Telegram's
getFile and file download; Viber's media URL), and the department's answer
comes back to the same chat."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.db import utcnow
from bot.models import Complaint, ComplaintPhoto, ComplaintStatus, PhotoStatus
from bot.services import complaints as service
from tests.channels.conftest import HEADERS_TG, VIBER_TOKEN, Bench
from tests.factories import jpeg_bytes
from tests.fakes.telegram_api import (
    FakeTelegramAPI,
    tg_callback_update,
    tg_command_update,
    tg_location_update,
    tg_message_update,
    tg_photo_update,
)
from tests.fakes.viber_api import FakeViberAPI, viber_message_event, viber_signature


def stored_photos(bench: Bench) -> list[ComplaintPhoto]:
    with bench.runtime.db.read_session() as session:
        rows = list(session.scalars(select(ComplaintPhoto).order_by(ComplaintPhoto.position)))
        for row in rows:
            session.expunge(row)
        return rows


def resolve(bench: Bench, answer: str) -> str:
    with bench.runtime.db.session() as session:
        complaint = session.scalars(select(Complaint)).one()
        service.reply(session, bench.runtime.profile, bench.runtime.catalogs, complaint,
                      answer, by="urban1", now=utcnow())
        service.transition(session, bench.runtime.profile, bench.runtime.catalogs, complaint,
                           ComplaintStatus.resolved, by="urban1", now=utcnow())
        return complaint.reference


async def test_telegram_complaint_with_photo_and_location(bench: Bench,
                                                          tg: FakeTelegramAPI) -> None:
    user, n = 7001, iter(range(1, 100))
    picture = jpeg_bytes(320, 240, exif_gps=True)
    tg.add_file("AgACAgIAAxkBAAIBpothole", picture)

    async def send(update: dict[str, Any]) -> str:
        response = await bench.client.post("/webhooks/telegram", json=update, headers=HEADERS_TG)
        assert response.status_code == 200
        await bench.deliver()
        return str(tg.delivered("sendMessage")[-1].params["text"])

    await send(tg_command_update(next(n), user, "/start", language_code="sr"))
    await send(tg_callback_update(next(n), user, "lang:sr_Cyrl"))
    await send(tg_callback_update(next(n), user, "privacy:ok"))
    await send(tg_command_update(next(n), user, "/complaint"))
    for payload in ("ckind:complaint", "ccat:roads", "cset:vrbovac"):
        await send(tg_callback_update(next(n), user, payload))
    await send(tg_message_update(next(n), user, "Велика рупа на путу код моста у Врбовцу."))
    await send(tg_photo_update(next(n), user, "AgACAgIAAxkBAAIBpothole", caption="рупа"))
    await send(tg_callback_update(next(n), user, "cph:done"))
    # The location question offers Telegram's own "share location" button.
    markup = tg.delivered("sendMessage")[-1].params["reply_markup"]
    assert markup["keyboard"][0][0]["request_location"] is True
    await send(tg_location_update(next(n), user, 42.3912, 21.4134))
    await send(tg_callback_update(next(n), user, "canon:no"))
    registered = await send(tg_callback_update(next(n), user, "cconf:yes"))
    assert "C-" in registered

    assert await bench.fetch_photos() == 1
    [photo] = stored_photos(bench)
    assert photo.status is PhotoStatus.stored and (photo.width, photo.height) == (320, 240)
    assert tg.delivered("getFile")[-1].params["file_id"] == "AgACAgIAAxkBAAIBpothole"
    assert tg.downloads == ["photos/AgACAgIAAxkBAAIBpothole.jpg"]
    assert b"PhoneMaker" not in Path(photo.path or "").read_bytes()
    with bench.runtime.db.read_session() as session:
        complaint = session.scalars(select(Complaint)).one()
        assert (complaint.latitude, complaint.longitude) == (42.3912, 21.4134)
        assert complaint.department == "cadastre_urbanism"

    reference = resolve(bench, "Рупа је санирана.")
    await bench.deliver()
    sent = [str(c.params["text"]) for c in tg.delivered("sendMessage")[-2:]]
    assert all(str(c.params["chat_id"]) == str(user) for c in tg.delivered("sendMessage")[-2:])
    assert "Рупа је санирана." in sent[0] and reference in sent[0]
    assert reference in sent[1]


async def test_viber_complaint_with_picture_and_location(bench: Bench,
                                                         viber: FakeViberAPI) -> None:
    user = "vCompl4int=="
    url = viber.add_media("pic-1.jpg", jpeg_bytes(200, 100))

    async def send(event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        response = await bench.client.post(
            "/webhooks/viber", content=body,
            headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200
        await bench.deliver()

    for text in ("/start", "lang:sq", "privacy:ok", "/complaint", "ckind:complaint",
                 "ccat:waste", "cset:klokot", "Mbeturinat nuk janë marrë prej dy javësh."):
        await send(viber_message_event(user, text, language="sq"))
    await send(viber_message_event(user, media=url, size=20_000, language="sq"))
    await send(viber_message_event(user, "cph:done", language="sq"))
    await send(viber_message_event(user, location=(42.3701, 21.3802), language="sq"))
    await send(viber_message_event(user, "canon:yes", language="sq"))
    await send(viber_message_event(user, "cconf:yes", language="sq"))
    assert "C-" in viber.delivered("send_message")[-1].params["text"]

    viber.fail_media(503)  # the first download fails; the worker tries again later
    assert await bench.fetch_photos() == 1
    assert stored_photos(bench)[0].status is PhotoStatus.pending
    with bench.runtime.db.session() as session:
        for row in session.scalars(select(ComplaintPhoto)):
            row.next_attempt_at = utcnow()
    assert await bench.fetch_photos() == 1
    [photo] = stored_photos(bench)
    assert photo.status is PhotoStatus.stored and (photo.width, photo.height) == (200, 100)
    assert viber.media_downloads() == ["pic-1.jpg", "pic-1.jpg"]
    with bench.runtime.db.read_session() as session:
        complaint = session.scalars(select(Complaint)).one()
        assert complaint.anonymous and complaint.department == "administration"

    reference = resolve(bench, "Kamioni kaluan të hënën.")
    await bench.deliver()
    last = viber.delivered("send_message")[-2:]
    assert all(c.params["receiver"] == user for c in last)
    assert "Kamioni kaluan të hënën." in last[0].params["text"]
    assert reference in last[1].params["text"]


async def test_a_viber_picture_sent_as_a_file_is_kept_like_a_photo(
        bench: Bench, viber: FakeViberAPI) -> None:
    """Viber sends a picture chosen from the phone's files as a "file" with a
    name and no mime type: a name like a picture's makes it a photo (the
    worker checks the bytes), a name like a document's stays refused."""
    user = "vPicFile=="
    url = viber.add_media("IMG_2041.JPG", jpeg_bytes(120, 90))
    pdf = viber.add_media("scan.pdf", b"%PDF-1.4", content_type="application/pdf")

    async def send(event: dict[str, Any]) -> str:
        body = json.dumps(event).encode()
        response = await bench.client.post(
            "/webhooks/viber", content=body,
            headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200
        await bench.deliver()
        return str(viber.delivered("send_message")[-1].params.get("text", ""))

    for text in ("/start", "lang:en", "privacy:ok", "/complaint", "ckind:complaint",
                 "ccat:waste", "cset:klokot", "The bins by the school were not emptied."):
        await send(viber_message_event(user, text))
    refused = await send(viber_message_event(user, media=pdf, file_name="scan.pdf", size=900))
    assert refused.startswith("Only photos can be attached")
    kept = await send(viber_message_event(user, media=url, file_name="IMG_2041.JPG",
                                          size=9_000))
    assert kept.startswith("Photo 1 received")
    for text in ("cph:done", "cloc:skip", "canon:no", "cconf:yes"):
        await send(viber_message_event(user, text))
    assert await bench.fetch_photos() == 1
    [photo] = stored_photos(bench)
    assert photo.status is PhotoStatus.stored and (photo.width, photo.height) == (120, 90)
