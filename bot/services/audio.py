"""What a recording's bytes are: the container by its magic (OGG/Opus or
Vorbis, MP3, M4A/MP4/AAC, AMR, WAV), and its length where the file says
it. Pure functions, no decoding: Viber names a file but gives no mime type,
and a name can lie, so the worker checks the bytes before it keeps one."""

from __future__ import annotations

import struct
from dataclasses import dataclass


class NotAudio(ValueError):
    """The bytes are not a recording in a format we keep."""


@dataclass(frozen=True)
class AudioInfo:
    mime_type: str
    suffix: str
    duration: float | None  # seconds; None where the file does not say


def sniff(data: bytes) -> AudioInfo:
    """The format and length of a recording; raises NotAudio for anything else."""
    if data.startswith(b"OggS"):
        return AudioInfo("audio/ogg", ".ogg", _ogg_seconds(data))
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return AudioInfo("audio/wav", ".wav", _wav_seconds(data))
    if data.startswith(b"#!AMR\n"):
        return AudioInfo("audio/amr", ".amr", _amr_seconds(data))
    if data[4:8] == b"ftyp":
        if _mp4_has_video(data):
            raise NotAudio("an MP4 with a video track")
        return AudioInfo("audio/mp4", ".m4a", _mp4_seconds(data))
    if data.startswith(b"ID3") or _mpeg_header(data, 0) is not None:
        seconds = _mp3_seconds(data)
        if seconds is None and not data.startswith(b"ID3"):
            raise NotAudio("no MPEG audio frames")
        return AudioInfo("audio/mpeg", ".mp3", seconds)
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:  # ADTS AAC
        return AudioInfo("audio/aac", ".aac", _adts_seconds(data))
    raise NotAudio("not a recording in a known format")


# --- OGG (Opus, Vorbis) -----------------------------------------------------------

def _ogg_seconds(data: bytes) -> float | None:
    """The last page's granule position over the stream's rate (Opus: 48 kHz
    less its pre-skip; Vorbis: the rate in its identification header)."""
    head = data[:512]
    if (at := head.find(b"OpusHead")) >= 0 and len(head) >= at + 12:
        rate, skip = 48_000, struct.unpack_from("<H", head, at + 10)[0]
    elif (at := head.find(b"\x01vorbis")) >= 0 and len(head) >= at + 16:
        rate, skip = struct.unpack_from("<I", head, at + 12)[0], 0
    else:
        return None
    last = data.rfind(b"OggS", max(0, len(data) - 65_536))
    if last < 0 or len(data) < last + 14 or rate <= 0:
        return None
    granule = struct.unpack_from("<q", data, last + 6)[0]
    return max(0.0, (granule - skip) / rate) if granule >= 0 else None


# --- WAV --------------------------------------------------------------------------

def _wav_seconds(data: bytes) -> float | None:
    at, rate_bytes = 12, 0
    while at + 8 <= len(data):
        chunk, size = data[at:at + 4], struct.unpack_from("<I", data, at + 4)[0]
        if chunk == b"fmt " and at + 16 <= len(data):
            rate_bytes = struct.unpack_from("<I", data, at + 16)[0]  # byte rate
        elif chunk == b"data":
            if not rate_bytes:
                return None
            return min(size, len(data) - at - 8) / rate_bytes
        at += 8 + size + (size & 1)
    return None


# --- AMR (narrow and wide band) ---------------------------------------------------

_AMR_NB = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)  # frame bytes by mode


def _amr_seconds(data: bytes) -> float | None:
    """Each frame is 20 ms; its size follows from the mode in its first byte."""
    at, frames = 6, 0
    while at < len(data):
        size = _AMR_NB[(data[at] >> 3) & 0x0F]
        at += size
        frames += 1
    return frames * 0.02


# --- MP4 / M4A --------------------------------------------------------------------

def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, body start, body end) of the boxes between start and end."""
    found, at = [], start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        body = at + 8
        if size == 1 and at + 16 <= end:
            size, body = struct.unpack_from(">Q", data, at + 8)[0], at + 16
        elif size == 0:
            size = end - at
        if size < 8 or at + size > end:
            found.append((kind, body, end))
            break
        found.append((kind, body, at + size))
        at += size
    return found


def _mp4_seconds(data: bytes) -> float | None:
    for kind, body, end in _boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for inner, start, _ in _boxes(data, body, end):
            if inner == b"mvhd" and start + 32 <= len(data):
                if data[start] == 1:  # version 1: 64-bit times
                    scale, length = struct.unpack_from(">IQ", data, start + 20)
                else:
                    scale, length = struct.unpack_from(">II", data, start + 12)
                return length / scale if scale else None
    return None


def _mp4_has_video(data: bytes) -> bool:
    at = data.find(b"hdlr")
    while at >= 0:
        if data[at + 12:at + 16] == b"vide":
            return True
        at = data.find(b"hdlr", at + 4)
    return False


# --- MP3 --------------------------------------------------------------------------

_BITRATES = {  # kbit/s by (MPEG-1?, index), layer III
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0),
}
_RATES = {3: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000), 0: (11_025, 12_000, 8_000)}


def _mpeg_header(data: bytes, at: int) -> tuple[int, int] | None:
    """(frame bytes, samples) of a layer III frame header at `at`, or None."""
    if at + 4 > len(data) or data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (data[at + 1] >> 3) & 3, (data[at + 1] >> 1) & 3
    bitrate_index, rate_index = data[at + 2] >> 4, (data[at + 2] >> 2) & 3
    if version == 1 or layer != 1 or rate_index == 3:
        return None
    bitrate = _BITRATES[version == 3][bitrate_index] * 1000
    if not bitrate:
        return None
    rate, padding = _RATES[version][rate_index], (data[at + 2] >> 1) & 1
    samples = 1152 if version == 3 else 576
    return samples // 8 * bitrate // rate + padding, samples * 1_000_000 // rate


def _mp3_seconds(data: bytes) -> float | None:
    """Frames walked from the first one (after an ID3v2 tag), their samples summed."""
    at = 0
    if data.startswith(b"ID3") and len(data) >= 10:
        size = data[6:10]
        at = 10 + ((size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3])
    micros, frames = 0, 0
    while (header := _mpeg_header(data, at)) is not None:
        length, duration = header
        at += length
        micros += duration
        frames += 1
    return micros / 1_000_000 if frames >= 2 else None


def _adts_seconds(data: bytes) -> float | None:
    rates = (96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000,
             12_000, 11_025, 8_000, 7_350)
    at, frames, rate = 0, 0, 0
    while at + 7 <= len(data) and data[at] == 0xFF and data[at + 1] & 0xF6 == 0xF0:
        index = (data[at + 2] >> 2) & 0x0F
        if index >= len(rates):
            break
        rate = rates[index]
        length = ((data[at + 3] & 3) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
        if length < 7:
            break
        at += length
        frames += 1
    return frames * 1024 / rate if rate and frames else None
