"""Backups as an operator makes and restores them (`klokot-bot backup DIR`,
`klokot-bot restore DIR`, through the real command line): every capability's
rows and the media files come back identical in a fresh installation, and a
restore that would lose or mix data (a non-empty target, a backup from a newer
release, a truncated or altered file, no manifest) is refused with a clear
message and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

import bot.models  # noqa: F401
from bot.db import Base, Database, utcnow
from bot.models.staff import AuditEntry
from bot.profile import get_profile
from bot.services import notices
from bot.staff import audit
from tests.factories import (
    load_staff,
    make_booking,
    make_citizen,
    make_complaint,
    make_document_request,
    make_staff,
)
from tests.handlers.test_reception import citizen_chat, tap
from tests.handlers.test_surveys import open_survey, press

# What each capability leaves in the database; each must hold rows before the backup.
FILLED = ["citizen", "channel_account", "reception_booking", "reception_day",
          "document_request", "complaint", "complaint_photo", "survey", "survey_response",
          "notice", "staff_user", "audit_entry", "conversation", "outbox_message",
          "inbound_update", "reference_counter"]


def cli(command: str, directory: Path, url: str, media_dir: Path
        ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "MEDIA_DIR": str(media_dir),
           "KLOKOT_DATA_DIR": str(media_dir.parent)}
    return subprocess.run([sys.executable, "-m", "bot.cli", command, str(directory)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def fresh_url(db: Database, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as `db`, never migrated: where a
    restore goes. On PostgreSQL a second database beside the test's one."""
    if db.is_sqlite:
        yield f"sqlite:///{tmp_path / 'restored' / 'klokot.db'}"
        return
    url = make_url(db.url)
    name = f"{url.database}_restore"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill_every_capability(db: Database, media_dir: Path) -> None:
    """A citizen with accounts, a booking, a document request, a complaint with
    a stored photo, a survey answered in the chat, a notice, an officer and
    their audit entry."""
    citizen_id = make_citizen(db, external_id="7001")
    with db.session() as session:
        from bot.models import ChannelAccount

        session.add(ChannelAccount(citizen_id=citizen_id, channel="viber",
                                   external_id="v7001", chat_id="v7001"))
    make_booking(db, day=(utcnow() + timedelta(days=10)).date())
    make_document_request(db)
    make_complaint(db, photos=1, media_dir=media_dir)
    slug = open_survey(db)
    chat = citizen_chat(db, "ana")
    chat.send("/survey")
    tap(chat, f"srv:{slug}:start")
    press(chat, ":v5")
    press(chat, ":o0")
    press(chat, ":skip")
    press(chat, ":skip")
    staff_id = make_staff(db, username="info1", role="admin")
    with db.session() as session:
        notices.create(session, get_profile(), topic="public_debates", settlements=None,
                       texts={"sr_Latn": "Javna rasprava", "sr_Cyrl": "Јавна расправа",
                              "sq": "Debat publik", "en": "Public debate"},
                       send_at=None, rsvp=False, by="info1", now=utcnow())
        audit.record(session, load_staff(session, staff_id), "notices.create",
                     object_type="notice", detail="for the backup test")
    (media_dir / "documents" / "x").mkdir(parents=True)
    (media_dir / "documents" / "x" / "answer.pdf").write_bytes(b"%PDF-1.4 an answer\n")


def all_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in primary-key order."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = {"alembic_version": [tuple(r) for r in conn.execute(
                text("SELECT version_num FROM alembic_version"))]}
            for table in Base.metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                rows[table.name] = [tuple(r) for r in conn.execute(
                    select(table).order_by(*order))]
            return rows
    finally:
        engine.dispose()


def media_files(media_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(media_dir)): p.read_bytes()
            for p in sorted(media_dir.rglob("*")) if p.is_file()}


def moved(rows: dict[str, list[tuple[Any, ...]]], old: Path, new: Path
          ) -> dict[str, list[tuple[Any, ...]]]:
    """`rows` with every path into `old` made a path into `new`."""
    prefix = f"{old.resolve()}/"

    def one(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(prefix):
            return f"{new.resolve()}/{value[len(prefix):]}"
        return value

    return {name: [tuple(one(v) for v in row) for row in table] for name, table in rows.items()}


def table_names(url: str) -> list[str]:
    """The tables in the database at `url` (none when its SQLite file was never made)."""
    if url.startswith("sqlite") and not Path(make_url(url).database or "").exists():
        return []
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_a_backup_restores_into_an_identical_installation(
        db: Database, fresh_url: str, tmp_path: Path) -> None:
    media = tmp_path / "data" / "media"
    fill_every_capability(db, media)
    before = all_rows(db.url)
    assert [name for name in FILLED if not before[name]] == []

    made = cli("backup", tmp_path / "backup", db.url, media)
    assert made.returncode == 0, made.stderr
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["database"] == ("sqlite" if db.is_sqlite else "postgresql")
    assert manifest["alembic_revision"] == before["alembic_version"][0][0]
    assert {name: len(rows) for name, rows in before.items()} == manifest["tables"]
    assert manifest["version"] and manifest["created_at"]
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())

    restored_media = tmp_path / "restored" / "media"
    done = cli("restore", tmp_path / "backup", fresh_url, restored_media)
    assert done.returncode == 0, done.stderr
    # the same rows; the stored files' paths now in the new media directory
    assert all_rows(fresh_url) == moved(before, media, restored_media)
    assert media_files(restored_media) == media_files(media)
    assert len(media_files(media)) == 2
    if db.is_sqlite:
        assert (Path(make_url(fresh_url).database or "").stat().st_mode & 0o077) == 0
    assert (restored_media.stat().st_mode & 0o077) == 0

    # the restored installation works: the officer still has their audit trail
    restored = Database(fresh_url)
    try:
        with restored.read_session() as session:
            assert session.scalars(select(AuditEntry.action).where(
                AuditEntry.detail == "for the backup test")).one() == "notices.create"
    finally:
        restored.dispose()


def test_photos_open_after_a_restore_into_another_media_directory(
        db: Database, fresh_url: str, tmp_path: Path) -> None:
    """An officer on the restored installation sees the complaint's photo,
    although MEDIA_DIR is elsewhere than on the machine the backup came from."""
    from bot.models import Complaint, ComplaintPhoto
    from bot.staff.complaints.views import stored_photo

    media = tmp_path / "data" / "media"
    reference = make_complaint(db, photos=1, media_dir=media)
    staff_id = make_staff(db, username="info1", role="admin")
    assert cli("backup", tmp_path / "backup", db.url, media).returncode == 0
    original = media_files(media)
    restored_media = tmp_path / "new-server" / "media"
    done = cli("restore", tmp_path / "backup", fresh_url, restored_media)
    assert done.returncode == 0, done.stderr
    assert "paths" in done.stdout
    restored = Database(fresh_url)
    try:
        with restored.read_session() as session:
            photo_id = session.scalars(select(ComplaintPhoto.id).join(Complaint).where(
                Complaint.reference == reference)).one()
            path, mime = stored_photo(session, load_staff(session, staff_id), reference,
                                      photo_id)
    finally:
        restored.dispose()
    assert mime == "image/jpeg" and path.is_relative_to(restored_media.resolve())
    assert path.read_bytes() == original[str(path.relative_to(restored_media.resolve()))]


@pytest.fixture
def made_backup(db: Database, tmp_path: Path) -> Path:
    media = tmp_path / "data" / "media"
    make_complaint(db, photos=1, media_dir=media)
    made = cli("backup", tmp_path / "backup", db.url, media)
    assert made.returncode == 0, made.stderr
    return tmp_path / "backup"


def refused(directory: Path, url: str, media_dir: Path, words: str) -> None:
    """The restore exits 1 saying `words`, without a traceback."""
    done = cli("restore", directory, url, media_dir)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "restore refused" in done.stderr and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def untouched(url: str, media_dir: Path) -> None:
    assert table_names(url) == [] and not media_dir.exists()


def test_restore_refuses_a_database_that_is_not_empty(
        db: Database, made_backup: Path, tmp_path: Path) -> None:
    before = all_rows(db.url)
    media = tmp_path / "data" / "media"
    files = media_files(media)
    refused(made_backup, db.url, tmp_path / "elsewhere", "is not empty")
    assert all_rows(db.url) == before and media_files(media) == files
    assert not (tmp_path / "elsewhere").exists()


def test_restore_refuses_a_media_directory_that_is_not_empty(
        made_backup: Path, fresh_url: str, tmp_path: Path) -> None:
    media = tmp_path / "other" / "media"
    media.mkdir(parents=True)
    (media / "keep.txt").write_text("an operator's file")
    refused(made_backup, fresh_url, media, "media directory")
    assert table_names(fresh_url) == []
    assert media_files(media) == {"keep.txt": b"an operator's file"}


@pytest.mark.parametrize(("field", "value", "words"), [
    ("alembic_revision", "ffffffffffff", "does not know"),
    ("version", "99.0.0", "newer than this"),
])
def test_restore_refuses_a_backup_from_a_newer_release(
        made_backup: Path, fresh_url: str, tmp_path: Path, field: str, value: str,
        words: str) -> None:
    path = made_backup / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[field] = value
    path.write_text(json.dumps(manifest))
    refused(made_backup, fresh_url, tmp_path / "restored" / "media", words)
    untouched(fresh_url, tmp_path / "restored" / "media")


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_restore_refuses_a_damaged_database_file(
        db: Database, made_backup: Path, fresh_url: str, tmp_path: Path, damage: str) -> None:
    dump = made_backup / ("database.sqlite3" if db.is_sqlite else "database.dump")
    data = dump.read_bytes()
    if damage == "truncated":
        dump.write_bytes(data[: len(data) // 2])
        words = "truncated"
    else:
        dump.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
        words = "checksum"
    refused(made_backup, fresh_url, tmp_path / "restored" / "media", words)
    untouched(fresh_url, tmp_path / "restored" / "media")


def test_restore_refuses_a_truncated_media_archive(
        made_backup: Path, fresh_url: str, tmp_path: Path) -> None:
    archive = made_backup / "media.tar"
    archive.write_bytes(archive.read_bytes()[:1024])
    refused(made_backup, fresh_url, tmp_path / "restored" / "media", "truncated")
    untouched(fresh_url, tmp_path / "restored" / "media")


def test_restore_refuses_a_directory_without_a_manifest(
        made_backup: Path, fresh_url: str, tmp_path: Path) -> None:
    (made_backup / "manifest.json").unlink()
    refused(made_backup, fresh_url, tmp_path / "restored" / "media", "no manifest.json")
    untouched(fresh_url, tmp_path / "restored" / "media")


def test_backup_refuses_a_directory_that_holds_something(
        db: Database, tmp_path: Path) -> None:
    target = tmp_path / "backup"
    target.mkdir()
    (target / "old.txt").write_text("yesterday's")
    done = cli("backup", target, db.url, tmp_path / "media")
    assert done.returncode == 1 and "not empty" in done.stderr, done.stderr
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_a_restore_on_a_python_without_extraction_filters(
        db: Database, made_backup: Path, fresh_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian 12's Python 3.11.2 has no `extractall(filter=...)`: walking the
    recipe there, `klokot-bot restore` died with a TypeError. Without the
    filters the media still come back, byte for byte."""
    import bot.backup

    monkeypatch.setattr(bot.backup, "TAR_HAS_FILTERS", False)
    original = media_files(tmp_path / "data" / "media")
    restored_media = tmp_path / "restored" / "media"
    bot.backup.restore(made_backup, fresh_url, restored_media)
    assert original and media_files(restored_media) == original


@pytest.mark.parametrize("hostile", ["../outside.txt", "/etc/outside.txt", "a-link"])
@pytest.mark.parametrize("filters", [True, False])
def test_a_media_archive_cannot_write_outside_the_media_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile: str, filters: bool) -> None:
    import io
    import tarfile

    import bot.backup

    monkeypatch.setattr(bot.backup, "TAR_HAS_FILTERS", filters and hasattr(tarfile, "data_filter"))
    (tmp_path / "backup").mkdir()
    with tarfile.open(tmp_path / "backup" / "media.tar", "w") as archive:
        member = tarfile.TarInfo(hostile)
        if hostile == "a-link":
            member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(member)
        else:
            member.size = 4
            archive.addfile(member, io.BytesIO(b"evil"))
    try:
        with bot.backup._unpacked_media(tmp_path / "backup", tmp_path / "data" / "media"):
            refused = False  # the filter made "/etc/outside.txt" a file inside the staging
    except bot.backup.BackupRefused as exc:
        refused = "cannot unpack" in str(exc)
    assert refused or (filters and hostile.startswith("/"))
    assert not (tmp_path / "outside.txt").exists() and not Path("/etc/outside.txt").exists()
