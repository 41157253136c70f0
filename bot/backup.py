"""`klokot-bot backup DIR` and `klokot-bot restore DIR`: a consistent snapshot
of the database and the media directory, and its way back into an empty
installation.

A backup directory holds:
- `database.sqlite3` (SQLite's online backup API: a consistent copy while the
  bot keeps writing) or `database.dump` (`pg_dump --format=custom`, taken in
  the same exported snapshot the row counts are read in);
- `media.tar`: MEDIA_DIR (complaint photos, voice messages, officers' uploads, exports);
- `manifest.json`, written last: the format, the project's version, the Alembic
  revision, the database's kind, when it was made, the rows of every table and
  each file's size and SHA-256, so that a truncated or altered copy is refused.

Restoring checks everything before it changes anything: the manifest, the
checksums, a version and revision this code knows, an empty database (no tables)
and an empty media directory. A refusal is a `BackupRefused` with the reason
and what to do; `klokot-bot` prints it and exits 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, Connection, make_url

from bot.db import private_sqlite_file
from bot.migrate import alembic_config

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_FILE = "database.sqlite3"
POSTGRES_FILE = "database.dump"
MEDIA_FILE = "media.tar"
CHUNK = 1 << 20


class BackupRefused(Exception):
    """A backup or restore that cannot be done; nothing was changed."""


@dataclass(frozen=True)
class Manifest:
    data: dict[str, Any]

    @property
    def database(self) -> str:
        return str(self.data["database"])

    @property
    def revision(self) -> str | None:
        value = self.data.get("alembic_revision")
        return str(value) if value else None

    @property
    def tables(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.data["tables"].items()}

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return dict(self.data["files"])


def project_version() -> str:
    try:
        return metadata.version("klokot-bot")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "0"


def _version_key(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _kind(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupRefused(f"cannot back up a {name} database; only SQLite and PostgreSQL")
    return name


def _counts(conn: Connection) -> dict[str, int]:
    names = sorted(inspect(conn).get_table_names())
    return {name: int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
            for name in names}


def _revision(conn: Connection, tables: dict[str, int]) -> str | None:
    if "alembic_version" not in tables:
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL pg_dump/pg_restore understand, and the environment carrying the
    password (never on a command line other users can read in `ps`)."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str]) -> None:
    tool = args[0]
    if shutil.which(tool) is None:
        raise BackupRefused(f"{tool} is not installed; install the PostgreSQL client of the "
                            "server's major version (Debian: postgresql-client-15)")
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        hint = (f"; {tool} must be of the server's major version or newer (Debian: "
                "postgresql-client-N, N the server's version)"
                if "version mismatch" in done.stderr else "")
        raise BackupRefused(f"{tool} failed: {done.stderr.strip()}{hint}")


# --- backup ---------------------------------------------------------------------------


def _backup_sqlite(url: str, target: Path) -> tuple[dict[str, int], str | None]:
    database = make_url(url).database
    if not database or database == ":memory:" or not Path(database).exists():
        raise BackupRefused(f"there is no SQLite database file at {database!r}")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    target.chmod(0o600)
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as conn:
            tables = _counts(conn)
            return tables, _revision(conn, tables)
    finally:
        engine.dispose()


def _backup_postgres(url: str, target: Path) -> tuple[dict[str, int], str | None]:
    """The counts and pg_dump read the same exported snapshot, so the manifest
    says exactly what the dump holds while the bot keeps writing."""
    libpq, env = _libpq(url)
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn:
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            tables = _counts(conn)
            revision = _revision(conn, tables)
            _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                  f"--snapshot={snapshot}", f"--file={target}", f"--dbname={libpq}"], env)
            conn.rollback()
    finally:
        engine.dispose()
    target.chmod(0o600)
    return tables, revision


def _tar_media(media_dir: Path, target: Path) -> None:
    with tarfile.open(target, "w") as archive:
        if media_dir.is_dir():
            for path in sorted(media_dir.rglob("*")):
                archive.add(path, arcname=str(path.relative_to(media_dir)), recursive=False)
    target.chmod(0o600)


def backup(url: str, media_dir: Path, directory: Path) -> dict[str, Any]:
    """Write a backup into `directory` (new or empty); returns the manifest.
    It is written into a sibling `.partial` folder and renamed at the end, so a
    backup cut short never looks like a finished one."""
    kind = _kind(url)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupRefused(f"{directory} already exists and is not empty; "
                            "give a new directory for each backup")
    directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".partial",
                                 dir=directory.parent))
    try:
        created = datetime.now(UTC)
        name = SQLITE_FILE if kind == "sqlite" else POSTGRES_FILE
        if kind == "sqlite":
            tables, revision = _backup_sqlite(url, work / name)
        else:
            tables, revision = _backup_postgres(url, work / name)
        _tar_media(media_dir, work / MEDIA_FILE)
        files = {each: {"size": (work / each).stat().st_size, "sha256": _sha256(work / each)}
                 for each in (name, MEDIA_FILE)}
        manifest = {
            "format": FORMAT,
            "project": "klokot-bot",
            "version": project_version(),
            "alembic_revision": revision,
            "database": kind,
            "created_at": created.isoformat(timespec="seconds"),
            "media_dir": str(media_dir.resolve()),
            "tables": tables,
            "files": files,
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        (work / MANIFEST).chmod(0o600)
        if directory.exists():
            directory.rmdir()
        work.rename(directory)
        return manifest
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


# --- restore --------------------------------------------------------------------------


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupRefused(f"{directory} has no {MANIFEST}: it is not a klokot-bot backup, "
                            "or the backup did not finish")
    try:
        data = json.loads(path.read_text())
        manifest = Manifest(data)
        if data.get("format") != FORMAT:
            raise BackupRefused(f"{path}: backup format {data.get('format')!r}; this version "
                                f"of klokot-bot reads format {FORMAT}")
        _ = manifest.database, manifest.tables, manifest.files, data["version"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupRefused(f"{path} is damaged ({exc.__class__.__name__}: {exc})") from None
    return manifest


def _check_known(manifest: Manifest) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    ours = project_version()
    if _version_key(str(manifest.data["version"])) > _version_key(ours):
        raise BackupRefused(f"the backup was made by klokot-bot {manifest.data['version']}, "
                            f"newer than this {ours}; install that version (or newer) to "
                            "restore it")
    if manifest.revision is None:
        raise BackupRefused("the backup holds no Alembic revision: its database was never "
                            "migrated, there is nothing to restore")
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        known = script.get_revision(manifest.revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupRefused(f"the backup's database is at revision {manifest.revision}, which "
                            "this version of klokot-bot does not know (a newer release made "
                            "it); install that release to restore it")


def _check_files(directory: Path, manifest: Manifest) -> None:
    expected = SQLITE_FILE if manifest.database == "sqlite" else POSTGRES_FILE
    if expected not in manifest.files or MEDIA_FILE not in manifest.files:
        raise BackupRefused(f"{directory / MANIFEST} does not list {expected} and {MEDIA_FILE}")
    for name, facts in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise BackupRefused(f"{path} is missing; the backup is incomplete")
        size = path.stat().st_size
        if size != int(facts["size"]):
            raise BackupRefused(f"{path} has {size} bytes, the manifest says {facts['size']}: "
                                "the backup is truncated or altered")
        if _sha256(path) != facts["sha256"]:
            raise BackupRefused(f"{path} does not match its checksum in the manifest: "
                                "the backup is damaged or altered")


def _check_empty_database(url: str) -> None:
    if make_url(url).get_backend_name() == "sqlite":
        database = make_url(url).database
        if not database or database == ":memory:":
            raise BackupRefused("restore needs a SQLite database file, not an in-memory one")
        path = Path(database)
        if not path.exists() or path.stat().st_size == 0:
            return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
    except Exception as exc:
        raise BackupRefused(f"cannot reach the database to restore into: {exc}") from None
    finally:
        engine.dispose()
    if names:
        raise BackupRefused(
            f"the database {make_url(url).render_as_string(hide_password=True)} is not empty "
            f"({len(names)} tables, e.g. {sorted(names)[0]}); restore only into an empty "
            "database: create a new one (or drop this one's tables) and run restore again")


def _check_empty_media(media_dir: Path) -> None:
    if media_dir.exists() and (not media_dir.is_dir() or any(media_dir.iterdir())):
        raise BackupRefused(f"the media directory {media_dir} is not empty; restore only into "
                            "an empty (or not yet existing) media directory")


# Extraction filters came with Python 3.11.4 (and 3.12); Debian 12 ships 3.11.2,
# where `extractall(filter=...)` is a TypeError. There the members are checked
# by hand to the same effect for what a backup holds: plain files and folders
# inside the target, nothing else.
TAR_HAS_FILTERS = hasattr(tarfile, "data_filter")


def _plain_members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in archive:
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise tarfile.TarError(f"{member.name!r} is not a plain file inside the archive")
        member.mode &= 0o755  # no set-id bits, nothing writable by others
        yield member


@contextmanager
def _unpacked_media(directory: Path, media_dir: Path) -> Iterator[Path]:
    """The media archive unpacked beside MEDIA_DIR (not yet visible there)."""
    media_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{media_dir.name}.", suffix=".restoring",
                                    dir=media_dir.parent))
    try:
        try:
            with tarfile.open(directory / MEDIA_FILE) as archive:
                if TAR_HAS_FILTERS:
                    archive.extractall(staging, filter="data")
                else:
                    archive.extractall(staging, members=_plain_members(archive))
        except (tarfile.TarError, OSError) as exc:
            raise BackupRefused(f"cannot unpack {directory / MEDIA_FILE}: {exc}") from None
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _restore_sqlite(directory: Path, url: str) -> None:
    database = make_url(url).database
    assert database
    target = Path(database)
    private_sqlite_file(url)  # the folder 0700, the file 0600 before it holds anything
    partial = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(directory / SQLITE_FILE, partial)
    partial.chmod(0o600)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(partial, target)


def _restore_postgres(directory: Path, url: str) -> None:
    libpq, env = _libpq(url)
    _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
          "--single-transaction", f"--dbname={libpq}", str(directory / POSTGRES_FILE)], env)


def verify(url: str, manifest: Manifest) -> None:
    """The restored database holds as many rows per table as the manifest says."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = _counts(conn)
    finally:
        engine.dispose()
    if found != manifest.tables:
        differ = sorted(k for k in set(found) | set(manifest.tables)
                        if found.get(k) != manifest.tables.get(k))
        raise BackupRefused(f"the restored database differs from the manifest in: "
                            f"{', '.join(differ)}")


# The columns that hold a file's absolute path inside MEDIA_DIR.
STORED_FILES = (("complaint_photo", "path"), ("document_file", "path"),
                ("voice_message", "path"))


def _move_media_paths(url: str, old_media_dir: str, media_dir: Path) -> int:
    """Stored files keep their absolute paths: restored into another MEDIA_DIR,
    they are pointed at where the files now are. Returns how many moved."""
    if not old_media_dir:
        return 0
    old_prefix = old_media_dir.rstrip("/") + "/"
    new_prefix = f"{media_dir.resolve()}/"
    if old_prefix == new_prefix:
        return 0
    moved = 0
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tables = set(inspect(conn).get_table_names())
            for table, column in STORED_FILES:
                if table not in tables:
                    continue
                for row_id, path in conn.execute(text(
                        f'SELECT id, "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')):
                    if str(path).startswith(old_prefix):
                        conn.execute(text(f'UPDATE "{table}" SET "{column}" = :path '
                                          "WHERE id = :id"),
                                     {"path": new_prefix + str(path)[len(old_prefix):],
                                      "id": row_id})
                        moved += 1
    finally:
        engine.dispose()
    return moved


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    moved_paths: int  # stored files' paths pointed into the new MEDIA_DIR


def restore(directory: Path, url: str, media_dir: Path) -> Restored:
    """Everything is checked first; then the database, then the media."""
    manifest = read_manifest(directory)
    kind = _kind(url)
    if manifest.database != kind:
        raise BackupRefused(f"the backup is of a {manifest.database} database; DATABASE_URL "
                            f"is {kind}. Restore it into a {manifest.database} database")
    _check_known(manifest)
    _check_files(directory, manifest)
    _check_empty_database(url)
    _check_empty_media(media_dir)
    with _unpacked_media(directory, media_dir) as staging:
        if kind == "sqlite":
            _restore_sqlite(directory, url)
        else:
            _restore_postgres(directory, url)
        if media_dir.exists():
            media_dir.rmdir()
        staging.rename(media_dir)
        media_dir.chmod(0o700)
    verify(url, manifest)
    moved = _move_media_paths(url, str(manifest.data.get("media_dir") or ""), media_dir)
    return Restored(manifest, moved)
