"""What staff see of a voice message a citizen sent instead of typing (a
complaint's description, a reception topic): its state, length and where
its file is served (to a signed-in officer who may see what it belongs to)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from bot.models import VoiceMessage, VoiceStatus
from bot.refusals import NotFound
from bot.services import voice


class VoiceOut(BaseModel):
    id: int
    status: VoiceStatus
    duration: int | None = Field(description="Seconds, where the platform or the file says")
    length: str | None = Field(description="The duration as m:ss")
    mime_type: str | None
    size: int | None
    error: str | None
    url: str | None = Field(description="Where a stored recording is served (signed-in staff)")


def voice_out(row: VoiceMessage, base: str) -> VoiceOut:
    """`base` is the owner's address; a stored recording is `{base}/voice/{id}`."""
    stored = row.status is VoiceStatus.stored
    return VoiceOut(id=row.id, status=row.status, duration=row.duration,
                    length=voice.length_label(row.duration) if row.duration is not None
                    else None, mime_type=row.mime_type, size=row.size, error=row.error,
                    url=f"{base}/voice/{row.id}" if stored else None)


def stored_voice(rows: list[VoiceMessage], voice_id: int, what: str) -> tuple[Path, str]:
    """The file and media type of one of these recordings, when stored;
    pending, refused, deleted or anyone else's are not found."""
    row = next((r for r in rows if r.id == voice_id), None)
    found = voice.stored_file(row)
    if found is None:
        raise NotFound("not_found", f"no stored voice message {voice_id} of {what}")
    return found
