"""What a file staff upload for a citizen really is (by its first bytes, not
its name), the name the citizen sees, and where it is kept: under the media
directory, in a folder per request, with a random name. Serving it by its
signed link is the web's part (`bot.admin.files`)."""

from __future__ import annotations

import io
import secrets
import unicodedata
import zipfile
from pathlib import Path

MAX_BYTES = 20 * 1024 * 1024
MIME = {
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text",
}
SUFFIXES = {".jpeg": ".jpg", **{s: s for s in MIME}}
ODT_MARK = b"mimetypeapplication/vnd.oasis.opendocument.text"


def sniff(data: bytes) -> str | None:
    """The file's kind (as a suffix, e.g. `.pdf`) from its content, or None
    when it is none of the kinds staff may send."""
    if data.startswith(b"%PDF-"):
        return ".pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if not data.startswith(b"PK\x03\x04"):
        return None
    if data[30:30 + len(ODT_MARK)] == ODT_MARK:
        return ".odt"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return ".docx"
        if "xl/workbook.xml" in names:
            return ".xlsx"
    return None


def clean_name(name: str | None, kind: str) -> str:
    """The name the citizen sees: no folders, no control characters, and the
    suffix of what the file really is."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip(" .")
    stem, dot, suffix = base.rpartition(".")
    if not dot or SUFFIXES.get("." + suffix.lower()) != kind:
        stem = base
    stem = stem[:150] or "document"
    return f"{stem}{kind}"


def store(media_dir: Path, reference: str, data: bytes, kind: str) -> Path:
    """Keep the bytes under MEDIA_DIR/documents/<reference>/ with a random
    name (the citizen's file name is never a path)."""
    folder = media_dir / "documents" / reference
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(16)}{kind}"
    path.write_bytes(data)
    return path.resolve()
