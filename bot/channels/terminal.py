"""The terminal's "platform" for `klokot-bot chat`: photos are files on this
machine. The chat itself (typing, printing) is an entry point: `bot.entry.chat`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from bot.channels.base import MediaRefused, MediaTooBig

CHANNEL = "terminal"


class LocalFiles:
    """The terminal's "platform": photos are files on this machine."""

    async def fetch_media(self, file_id: str | None, url: str | None,
                          max_bytes: int) -> bytes:
        parsed = urlparse(url or "")
        path = Path(unquote(parsed.path))
        if parsed.scheme != "file" or not path.is_file():
            raise MediaRefused(f"no such file: {url}")
        if path.stat().st_size > max_bytes:
            raise MediaTooBig(f"{path.stat().st_size} bytes")
        return path.read_bytes()
