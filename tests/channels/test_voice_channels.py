"""Voice messages instead of typing, through both platforms' real libraries
against the fake APIs: a Telegram voice note as a complaint's description
(confirmed with its length, fetched by the worker with getFile and kept
under MEDIA_DIR, erased with the citizen), the limits refused politely with
typing still possible, a Viber audio file as a reception topic (its length
read from the file), and recordings that are not audio or cannot be
fetched: the citizen is told once, and what they filed stands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import utcnow
from bot.i18n import Catalogs
from bot.models import Booking, Complaint, ComplaintPhoto, VoiceMessage, VoiceStatus
from tests.channels.conftest import HEADERS_TG, VIBER_TOKEN, Bench
from tests.factories import jpeg_bytes, m4a_bytes, mp3_bytes, ogg_opus_bytes
from tests.fakes.telegram_api import (
    FakeTelegramAPI,
    tg_callback_update,
    tg_command_update,
    tg_message_update,
    tg_voice_update,
)
from tests.fakes.viber_api import FakeViberAPI, viber_message_event, viber_signature

T = Catalogs()
VOICE_ID = "AwACAgIAAxkBAAIVoice42"


def voices(bench: Bench) -> list[VoiceMessage]:
    with bench.runtime.db.read_session() as session:
        rows = list(session.scalars(select(VoiceMessage).order_by(VoiceMessage.id)))
        for row in rows:
            session.expunge(row)
        return rows


class TelegramChat:
    def __init__(self, bench: Bench, tg: FakeTelegramAPI, user: int) -> None:
        self.bench, self.tg, self.user = bench, tg, user
        self.n = iter(range(user * 1000, user * 1000 + 999))  # update ids are unique

    async def send(self, make: Any, *args: Any, **kwargs: Any) -> str:
        update = make(next(self.n), self.user, *args, **kwargs)
        response = await self.bench.client.post("/webhooks/telegram", json=update,
                                                headers=HEADERS_TG)
        assert response.status_code == 200
        await self.bench.deliver()
        return str(self.tg.delivered("sendMessage")[-1].params["text"])

    async def to_description(self, language: str = "en") -> None:
        await self.send(tg_command_update, "/start")
        await self.send(tg_callback_update, f"lang:{language}")
        await self.send(tg_callback_update, "privacy:ok")
        await self.send(tg_command_update, "/complaint")
        for payload in ("ckind:complaint", "ccat:roads", "cset:vrbovac"):
            await self.send(tg_callback_update, payload)

    async def confirm(self) -> str:
        for payload in ("cph:done", "cloc:skip", "canon:no"):
            await self.send(tg_callback_update, payload)
        return await self.send(tg_callback_update, "cconf:yes")


async def test_a_telegram_voice_note_describes_a_complaint_and_is_kept(
        bench: Bench, tg: FakeTelegramAPI) -> None:
    tg.add_file(VOICE_ID, ogg_opus_bytes(42))
    chat = TelegramChat(bench, tg, 7101)
    await chat.to_description()
    said = await chat.send(tg_voice_update, VOICE_ID, duration=42)
    assert said.startswith("🎤 Voice message received, 0:42")
    assert T.gettext("en", "complaints.ask_photos", max=5, max_mb=10) in said
    await chat.send(tg_callback_update, "cph:done")
    await chat.send(tg_callback_update, "cloc:skip")
    summary = await chat.send(tg_callback_update, "canon:no")
    assert "(voice message)" in summary  # in the citizen's own language
    registered = await chat.send(tg_callback_update, "cconf:yes")
    assert "C-" in registered

    with bench.runtime.db.read_session() as session:
        complaint = session.scalars(select(Complaint)).one()
        # Staff lists, exports and Open311 read the municipality's own language.
        assert complaint.description == T.gettext("sr_Latn", "voice.marker")
        assert session.scalars(select(ComplaintPhoto)).all() == []
    [pending] = voices(bench)
    assert pending.status is VoiceStatus.pending and pending.duration == 42

    assert await bench.fetch_voices() == 1
    [kept] = voices(bench)
    assert kept.status is VoiceStatus.stored, kept.error
    assert kept.mime_type == "audio/ogg" and kept.duration == 42
    assert tg.delivered("getFile")[-1].params["file_id"] == VOICE_ID
    path = Path(kept.path or "")
    assert path.is_file() and path.read_bytes() == ogg_opus_bytes(42)
    assert path.is_relative_to(bench.runtime.settings.media_dir.resolve())
    assert await bench.fetch_voices() == 0  # kept once; nothing more to do

    # Erased with the citizen: the file goes, the complaint keeps its text.
    await chat.send(tg_command_update, "/forget")
    await chat.send(tg_callback_update, "forget:yes")
    [erased] = voices(bench)
    assert erased.status is VoiceStatus.deleted and erased.path is None
    assert erased.file_id is None and not path.exists()
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(Complaint)).one().description == "(glasovna poruka)"


@pytest.mark.parametrize(("length", "size", "refusal"), [
    (181, 90_000, "longer than 3 minutes"),
    (150, 11 * 1024 * 1024, "larger than 10 MB"),
])
async def test_a_voice_note_over_the_limits_is_refused_and_typing_still_works(
        bench: Bench, tg: FakeTelegramAPI, length: int, size: int, refusal: str) -> None:
    chat = TelegramChat(bench, tg, 7102)
    await chat.to_description()
    answer = await chat.send(tg_voice_update, VOICE_ID, duration=length, file_size=size)
    assert refusal in answer and "type your answer" in answer
    # The same question again, with its keyboard: the citizen types instead.
    assert T.gettext("en", "complaints.ask_description.complaint", min=10, max=4000) in answer
    typed = await chat.send(tg_message_update, "The road by the bridge has a deep hole.")
    assert T.gettext("en", "complaints.ask_photos", max=5, max_mb=10) in typed
    assert "C-" in await chat.confirm()
    assert voices(bench) == [] and tg.delivered("getFile") == []


async def test_a_telegram_audio_file_in_serbian_and_one_that_is_not_audio(
        bench: Bench, tg: FakeTelegramAPI) -> None:
    """An audio file (MP3) is taken like a voice note; bytes that are not a
    recording are refused once, in the citizen's language, and the complaint stays."""
    tg.add_file("mp3-ok", mp3_bytes(5))
    tg.add_file("mp3-fake", jpeg_bytes())
    first = TelegramChat(bench, tg, 7103)
    await first.to_description("sr_Latn")
    said = await first.send(tg_voice_update, "mp3-ok", duration=5, audio=True)
    assert said.startswith("🎤 Glasovna poruka je primljena, 0:05")
    await first.confirm()
    second = TelegramChat(bench, tg, 7104)
    await second.to_description("sr_Cyrl")
    await second.send(tg_voice_update, "mp3-fake", duration=9, audio=True)
    await second.confirm()

    assert await bench.fetch_voices() == 2
    ok, fake = voices(bench)
    assert ok.status is VoiceStatus.stored and ok.mime_type == "audio/mpeg"
    assert ok.duration == 5
    assert fake.status is VoiceStatus.rejected and (fake.error or "").startswith("not_audio")
    await bench.deliver()
    told = [c for c in tg.delivered("sendMessage") if str(c.params["chat_id"]) == "7104"]
    assert "није снимак" in told[-1].params["text"]
    with bench.runtime.db.read_session() as session:
        assert len(session.scalars(select(Complaint)).all()) == 2
    assert await bench.fetch_voices() == 0
    await bench.deliver()
    again = [c for c in tg.delivered("sendMessage") if str(c.params["chat_id"]) == "7104"]
    assert len(again) == len(told)  # told once


async def test_a_recording_telegram_will_not_give_is_told_and_the_complaint_stands(
        bench: Bench, tg: FakeTelegramAPI) -> None:
    chat = TelegramChat(bench, tg, 7105)
    await chat.to_description()
    await chat.send(tg_voice_update, "gone-file", duration=12)
    await chat.confirm()
    tg.fail_next("getFile", status=400, description="Bad Request: wrong file_id")
    assert await bench.fetch_voices() == 1
    [row] = voices(bench)
    assert row.status is VoiceStatus.failed
    await bench.deliver()
    text = str(tg.delivered("sendMessage")[-1].params["text"])
    assert "could not be downloaded" in text and "C-" in text


async def test_a_viber_audio_file_is_a_reception_topic(bench: Bench,
                                                       viber: FakeViberAPI) -> None:
    """Viber delivers a recording as a file with a name and no mime type nor
    length: the name makes it a voice message, the bytes confirm it and give
    its length; the booking is made at once, the recording attached later."""
    user = "vVoice=="
    url = viber.add_media("topic.m4a", m4a_bytes(75), content_type="audio/mp4")

    async def send(event: dict[str, Any]) -> str:
        body = json.dumps(event).encode()
        response = await bench.client.post(
            "/webhooks/viber", content=body,
            headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200
        await bench.deliver()
        return str(viber.delivered("send_message")[-1].params.get("text", ""))

    def first(prefix: str) -> str:
        keys = viber.delivered("send_message")[-1].params["keyboard"]["Buttons"]
        return next(b["ActionBody"] for b in keys if b["ActionBody"].startswith(prefix))

    for text in ("/start", "lang:sq", "privacy:ok", "/reception", "rk:regular"):
        await send(viber_message_event(user, text, language="sq"))
    await send(viber_message_event(user, first("rday:"), language="sq"))
    await send(viber_message_event(user, first("rtime:"), language="sq"))
    said = await send(viber_message_event(user, media=url, file_name="topic.m4a",
                                          size=4_000, language="sq"))
    assert said.startswith("🎤 Mesazhi zanor u pranua\n")  # no length from Viber
    await send(viber_message_event(user, "Arta Krasniqi", language="sq"))
    await send(viber_message_event(user, "+38344555777", language="sq"))
    summary = await send(viber_message_event(user, "rset:klokot", language="sq"))
    assert "(mesazh zanor)" in summary
    assert "R-" in await send(viber_message_event(user, "rconf:yes", language="sq"))
    with bench.runtime.db.read_session() as session:
        booking = session.scalars(select(Booking)).one()
        assert booking.topic == "(glasovna poruka)"

    assert await bench.fetch_voices() == 1
    [row] = voices(bench)
    assert row.status is VoiceStatus.stored and row.booking_id == booking.id
    assert row.mime_type == "audio/mp4" and row.duration == 75
    assert viber.media_downloads() == ["topic.m4a"]


async def test_a_viber_file_named_like_audio_that_is_a_picture_is_refused_once(
        bench: Bench, viber: FakeViberAPI) -> None:
    user = "vNotAudio=="
    url = viber.add_media("voice.mp3", jpeg_bytes())

    async def send(text: str | None = None, **kwargs: Any) -> None:
        body = json.dumps(viber_message_event(user, text, language="en", **kwargs)).encode()
        response = await bench.client.post(
            "/webhooks/viber", content=body,
            headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200
        await bench.deliver()

    for text in ("/start", "lang:en", "privacy:ok", "/complaint", "ckind:complaint",
                 "ccat:waste", "cset:klokot"):
        await send(text)
    await send(media=url, file_name="voice.mp3", size=2_000)
    assert viber.delivered("send_message")[-1].params["text"].startswith(
        "🎤 Voice message received\n")
    for text in ("cph:done", "cloc:skip", "canon:no", "cconf:yes"):
        await send(text)
    assert await bench.fetch_voices() == 1
    with bench.runtime.db.session() as session:  # a second pass finds nothing to tell
        for row in session.scalars(select(VoiceMessage)):
            row.next_attempt_at = utcnow()
    assert await bench.fetch_voices() == 0
    await bench.deliver()
    told = [c.params["text"] for c in viber.delivered("send_message")
            if "not a recording" in str(c.params.get("text"))]
    assert len(told) == 1 and "C-" in told[0]
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(Complaint)).one().status.value == "open"


def tg_audio_document_update(update_id: int, user_id: int, file_id: str) -> dict[str, Any]:
    """A recording sent "as a file" (a document with an audio mime type): no length given."""
    update = tg_voice_update(update_id, user_id, file_id, audio=True)
    recording = update["message"].pop("audio")
    for key in ("duration", "title"):
        recording.pop(key)
    update["message"]["document"] = recording
    return update


async def test_a_recording_sent_as_a_telegram_file_is_a_voice_message(
        bench: Bench, tg: FakeTelegramAPI) -> None:
    """Telegram's "send as file" turns an MP3 into a document: it is still a
    recording, not a photo refused; its length is read from the file."""
    tg.add_file("mp3-doc", mp3_bytes(7))
    chat = TelegramChat(bench, tg, 7106)
    await chat.to_description()
    said = await chat.send(tg_audio_document_update, "mp3-doc")
    assert said.startswith("🎤 Voice message received\n")
    assert "C-" in await chat.confirm()
    assert await bench.fetch_voices() == 1
    [kept] = voices(bench)
    assert kept.status is VoiceStatus.stored and kept.mime_type == "audio/mpeg"
    assert kept.duration == 7
