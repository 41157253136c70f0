"""Documents staff upload for citizens: checking what a file really is (by
its first bytes, not its name), storing it under the media directory with a
random name, and serving them (and /mydata exports) by the signed, expiring
links `bot.filestore` makes (`/files/{token}`), for channels that fetch a file
by URL (Viber)."""

from __future__ import annotations

import io
import secrets
import unicodedata
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from bot.admin.common import Problem
from bot.admin.deps import RuntimeDep, SessionDep
from bot.config import Settings
from bot.models import DocumentFile

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

router = APIRouter(include_in_schema=False)


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


def store(settings: Settings, reference: str, data: bytes, kind: str) -> Path:
    folder = settings.media_dir / "documents" / reference
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(16)}{kind}"
    path.write_bytes(data)
    return path.resolve()


@router.get("/files/{token}")
def download(token: Annotated[str, PathParam(max_length=200)], session: SessionDep,
             runtime: RuntimeDep) -> FileResponse:
    """A document by its signed link; a forged or expired link finds nothing."""
    missing = Problem(404, "not_found", "no such file (the link is wrong or expired)")
    if token.startswith("x"):  # a citizen's /mydata export
        export = runtime.engine.files.verify(token)
        if export is None:
            raise missing
        return FileResponse(export, media_type="application/json",
                            filename="klokot-mydata.json",
                            headers={"Cache-Control": "private, no-store"})
    name = runtime.engine.files.signed_name(token)
    found = session.get(DocumentFile, int(name)) if name and name.isdigit() else None
    if found is None or not Path(found.path).is_file():
        raise missing
    return FileResponse(found.path, media_type=found.mime_type, filename=found.file_name,
                        headers={"Cache-Control": "private, no-store"})
