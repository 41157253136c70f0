"""Voice messages in the chat, in every locale, through the engine and the
terminal channel (`!voice` sends a local recording, fetched as the worker
would): a complaint described by voice, an urgent reception request whose
topic is a recording, a recording where a step wants something else, and
typing again after a recording."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.entry.chat import TerminalChat
from bot.i18n import Catalogs
from bot.models import Complaint, UrgentRequest, VoiceMessage, VoiceStatus
from tests.factories import make_runtime, texts, wav_bytes
from tests.handlers.test_reception import tap

LOCALES = ["sr_Latn", "sr_Cyrl", "sq", "en"]
T = Catalogs()


def voice_chat(db: Database, user: str, locale: str, media_dir: Path) -> TerminalChat:
    runtime = make_runtime(db, media_dir=media_dir)
    chat = TerminalChat(runtime.engine, runtime.db, user=user, out=io.StringIO(),
                        photos=runtime.photo_fetcher(terminal=True),
                        voices=runtime.voice_fetcher(terminal=True))
    chat.send("/start")
    tap(chat, f"lang:{locale}")
    tap(chat, "privacy:ok")
    return chat


def recording(tmp_path: Path, seconds: float = 3.0, name: str = "said.wav") -> Path:
    path = tmp_path / name
    path.write_bytes(wav_bytes(seconds))
    return path


def kept(db: Database) -> list[VoiceMessage]:
    with db.read_session() as session:
        rows = list(session.scalars(select(VoiceMessage).order_by(VoiceMessage.id)))
        for row in rows:
            session.expunge(row)
        return rows


@pytest.mark.parametrize("locale", LOCALES)
def test_a_complaint_described_by_voice(db: Database, tmp_path: Path, locale: str) -> None:
    chat = voice_chat(db, "vera", locale, tmp_path / "media")
    chat.send("/complaint")
    for prefix in ("ckind:complaint", "ccat:roads", "cset:mogila"):
        tap(chat, prefix)
    said = texts(chat.send(f"!voice {recording(tmp_path)}"))
    assert said.startswith(T.gettext(locale, "voice.received_no_length"))
    assert T.gettext(locale, "complaints.ask_photos", max=5, max_mb=10) in said
    tap(chat, "cph:done")
    tap(chat, "cloc:skip")
    summary = tap(chat, "canon:no")
    assert T.gettext(locale, "voice.marker") in summary
    tap(chat, "cconf:yes")
    with db.read_session() as session:
        assert session.scalars(select(Complaint)).one().description == "(glasovna poruka)"
    [row] = kept(db)
    assert row.status is VoiceStatus.stored and row.duration == 3
    assert row.mime_type == "audio/wav" and Path(row.path or "").is_file()


@pytest.mark.parametrize("locale", LOCALES)
def test_an_urgent_request_by_voice(db: Database, tmp_path: Path, locale: str) -> None:
    chat = voice_chat(db, "bora", locale, tmp_path / "media")
    chat.send("/reception")
    tap(chat, "rk:urgent")
    asked = texts(chat.send(f"!voice {recording(tmp_path, 2)}"))
    assert asked.startswith(T.gettext(locale, "voice.received_no_length"))
    assert T.gettext(locale, "reception.ask_phone") in asked
    summary = texts(chat.send("+383 44 123 456"))
    assert T.gettext(locale, "voice.marker") in summary
    tap(chat, "urg:yes")
    with db.read_session() as session:
        urgent = session.scalars(select(UrgentRequest)).one()
        assert urgent.topic == "(glasovna poruka)"
    [row] = kept(db)
    assert row.urgent_id == urgent.id and row.status is VoiceStatus.stored


def test_a_recording_where_a_step_wants_words_is_explained(db: Database,
                                                          tmp_path: Path) -> None:
    chat = voice_chat(db, "dana", "en", tmp_path / "media")
    chat.send("/complaint")
    for prefix in ("ckind:complaint", "ccat:roads", "cset:mogila"):
        tap(chat, prefix)
    chat.send(f"!voice {recording(tmp_path)}")
    asked = tap(chat, "cph:done")  # the location step: a recording is no address
    answer = texts(chat.send(f"!voice {recording(tmp_path)}"))
    assert T.gettext("en", "error.expected_text") in answer and asked.split("\n")[0] in answer
    assert len(kept(db)) == 0  # nothing is kept before the complaint is sent


def test_typing_after_a_recording_replaces_it(db: Database, tmp_path: Path) -> None:
    chat = voice_chat(db, "ema", "en", tmp_path / "media")
    chat.send("/reception")
    tap(chat, "rk:urgent")
    chat.send(f"!voice {recording(tmp_path)}")
    tap(chat, "nav:back")
    chat.send("Water is coming into the house from the street.")
    summary = texts(chat.send("+383 44 123 456"))
    assert "Water is coming" in summary and T.gettext("en", "voice.marker") not in summary
    tap(chat, "urg:yes")
    assert kept(db) == []
