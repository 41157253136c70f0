"""A recording is known by its bytes, not by the name it came with (Viber
gives no mime type): each format we keep, its length where the file says it,
and what is refused."""

from __future__ import annotations

import pytest

from bot.services import audio
from tests.factories import jpeg_bytes, m4a_bytes, mp3_bytes, ogg_opus_bytes, wav_bytes


def amr_bytes(seconds: float) -> bytes:
    frame = bytes([0x3C]) + bytes(31)  # mode 7 (12.2 kbit/s): 32 bytes, 20 ms
    return b"#!AMR\n" + frame * int(seconds / 0.02)


@pytest.mark.parametrize(("data", "mime", "seconds"), [
    (ogg_opus_bytes(42), "audio/ogg", 42),
    (wav_bytes(3), "audio/wav", 3),
    (mp3_bytes(5), "audio/mpeg", 5),
    (m4a_bytes(61), "audio/mp4", 61),
    (amr_bytes(4), "audio/amr", 4),
])
def test_each_kept_format_is_known_with_its_length(data: bytes, mime: str,
                                                   seconds: int) -> None:
    info = audio.sniff(data)
    assert info.mime_type == mime
    assert info.duration is not None and abs(info.duration - seconds) < 0.1


@pytest.mark.parametrize("data", [
    jpeg_bytes(), b"%PDF-1.7 not a recording", b"", b"RIFF\x00\x00\x00\x00AVI ",
    m4a_bytes(10, handler=b"vide"), b"\xff\xfb" + bytes(10),
])
def test_what_is_not_a_recording_is_refused(data: bytes) -> None:
    with pytest.raises(audio.NotAudio):
        audio.sniff(data)
