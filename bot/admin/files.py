"""The web side of the files the bot hands to citizens: reading a staff
upload within the size limit (one place for the API and the staff pages),
and serving documents and /mydata exports by the signed, expiring links
`bot.filestore` makes (`/files/{token}`), for channels that fetch a file by
URL (Viber). What a document is and where it is kept:
`bot.staff.documents.files`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.admin.common import Problem
from bot.admin.deps import RuntimeDep, SessionDep
from bot.models import Citizen, DocumentFile, DocumentRequest
from bot.refusals import NotFound
from bot.staff.documents import files as stored

router = APIRouter(include_in_schema=False)


def read_upload(upload: UploadFile) -> bytes:
    """The upload's bytes; more than `MAX_BYTES` is 413 without reading it all."""
    data = upload.file.read(stored.MAX_BYTES + 1)
    if len(data) > stored.MAX_BYTES:
        raise Problem(413, "file_too_large", "a document may be at most 20 MB")
    return data


def _requester_erased(session: Session, file: DocumentFile) -> bool:
    """The municipality keeps a granted document as the record of the request
    (it is a public document, not the citizen's data), but the link sent to
    a citizen who erased their data stops working."""
    return session.scalar(
        select(Citizen.erased_at.is_not(None))
        .join(DocumentRequest, DocumentRequest.citizen_id == Citizen.id)
        .where(DocumentRequest.id == file.request_id)) is True


@router.get("/files/{token}/{file_name}")
def download_named(token: Annotated[str, PathParam(max_length=200)],
                   file_name: Annotated[str, PathParam(max_length=255)],
                   session: SessionDep, runtime: RuntimeDep) -> FileResponse:
    """The same file, with its name at the end of the link: Viber asks for
    a name with its extension there. The name is not checked: the token
    alone says which file it is."""
    return download(token, session, runtime)


def file_download(file: DocumentFile) -> FileResponse:
    """An uploaded document for a signed-in officer (`bot.staff.documents.views.stored_file`
    checked who may have it), under the name the citizen sees."""
    return FileResponse(file.path, media_type=file.mime_type, filename=file.file_name,
                        headers={"Cache-Control": "private, no-store"})


@router.get("/files/{token}")
def download(token: Annotated[str, PathParam(max_length=200)], session: SessionDep,
             runtime: RuntimeDep) -> FileResponse:
    """A document by its signed link; a forged or expired link finds nothing,
    and a genuine link to what was erased (/forget) answers 410."""
    missing = NotFound("not_found", "no such file (the link is wrong or expired)")
    gone = Problem(410, "gone", "this file was deleted when its owner erased their data")
    name = runtime.engine.files.signed_name(token)
    if token.startswith("x"):  # a citizen's /mydata export
        export = runtime.engine.files.verify(token)
        if export is None:
            raise gone if name else missing
        return FileResponse(export, media_type="application/json",
                            filename="klokot-mydata.json",
                            headers={"Cache-Control": "private, no-store"})
    found = session.get(DocumentFile, int(name)) if name and name.isdigit() else None
    if found is None or not Path(found.path).is_file():
        raise missing
    if _requester_erased(session, found):
        raise gone
    return FileResponse(found.path, media_type=found.mime_type, filename=found.file_name,
                        headers={"Cache-Control": "private, no-store"})
