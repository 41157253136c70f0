"""Files the bot hands to citizens, and the one place their links are signed:
a /mydata export (kept under MEDIA_DIR/exports with a random name, `x…`) and a
document staff granted (named by its id). Channels that fetch a file by URL
(Viber) get a signed, expiring link `/files/{name}.{expires}.{signature}`."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.db import utcnow
from bot.messages import FileRef

LINK_DAYS = 7
_EXPORT = re.compile(r"^x[0-9a-f]{32}$")
_NAME = re.compile(r"^(x[0-9a-f]{32}|[0-9]{1,18})$")


def _signature(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class FileStore:
    media_dir: Path
    public_url: str | None
    secret: str

    @property
    def exports(self) -> Path:
        return self.media_dir / "exports"

    def save_export(self, data: bytes, file_name: str, mime_type: str,
                    now: datetime | None = None, owner: str | None = None) -> FileRef:
        """Keep the file and say how a channel can send it (path, and a link
        when PUBLIC_URL is set). An `owner`'s files are kept together, so
        that erasing the owner deletes them all."""
        folder = self.exports / owner if owner else self.exports
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"x{secrets.token_hex(16)}"
        path = folder / f"{name}.json"
        path.write_bytes(data)
        path.chmod(0o600)
        return FileRef(path=str(path.resolve()), url=self.link(name, now),
                       file_name=file_name, mime_type=mime_type)

    def sign(self, name: str, now: datetime | None = None) -> str:
        """The token of a link to `name`, valid for LINK_DAYS."""
        expires = int(((now or utcnow()) + timedelta(days=LINK_DAYS)).timestamp())
        message = f"{name}.{expires}"
        return f"{message}.{_signature(self.secret, message)}"

    def link(self, name: str, now: datetime | None = None) -> str | None:
        """The signed link to `name`, or None when PUBLIC_URL is not set."""
        if not self.public_url:
            return None
        return f"{self.public_url.rstrip('/')}/files/{self.sign(name, now)}"

    def signed_name(self, token: str, now: datetime | None = None) -> str | None:
        """What a valid, unexpired token names; None for anything else."""
        parts = token.split(".")
        if len(parts) != 3 or not _NAME.match(parts[0]) or not parts[1].isdigit():
            return None
        if not hmac.compare_digest(_signature(self.secret, f"{parts[0]}.{parts[1]}"),
                                   parts[2]):
            return None
        if int(parts[1]) < (now or utcnow()).timestamp():
            return None
        return parts[0]

    def verify(self, token: str, now: datetime | None = None) -> Path | None:
        """The export file of a valid, unexpired link; None for anything else."""
        name = self.signed_name(token, now)
        if name is None or not _EXPORT.match(name):
            return None
        return next((path for path in (self.exports / f"{name}.json",
                                       *self.exports.glob(f"*/{name}.json"))
                     if path.is_file()), None)

    def delete_exports_of(self, owner: str) -> int:
        """Erasure: every export made for this owner goes at once."""
        folder = self.exports / owner
        if not folder.is_dir():
            return 0
        removed = 0
        for path in folder.glob("x*.json"):
            path.unlink(missing_ok=True)
            removed += 1
        folder.rmdir()
        return removed

    def delete_exports_older_than(self, cutoff: datetime) -> int:
        """Exports are made to be fetched once; the retention job removes them."""
        if not self.exports.is_dir():
            return 0
        removed = 0
        for path in [*self.exports.glob("x*.json"), *self.exports.glob("*/x*.json")]:
            if path.stat().st_mtime < cutoff.timestamp():
                path.unlink(missing_ok=True)
                removed += 1
        return removed
