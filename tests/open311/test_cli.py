"""`klokot-bot open311 add-key | list-keys | revoke-key`, and that the keys
they make and revoke work and stop working on the API."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from bot.db import Database
from bot.models import Open311Key
from tests.open311.conftest import Open311Client


def run_cli(db: Database, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": db.url, "KLOKOT_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "bot.cli", "open311", *args],
                          capture_output=True, text=True, env=env, timeout=60)


def test_open311_key_command_line(client: Open311Client, db: Database, tmp_path: Path) -> None:
    empty = run_cli(db, tmp_path, "list-keys")
    assert empty.returncode == 0 and "no Open311 keys" in empty.stdout

    made = run_cli(db, tmp_path, "add-key", "fixmystreet")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert len(key) >= 40 and "\n" not in key
    assert "shown only now" in made.stderr
    with db.read_session() as session:
        row = session.scalar(select(Open311Key).where(Open311Key.name == "fixmystreet"))
        assert row is not None and row.revoked_at is None and row.last_used_at is None
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()  # only the hash

    again = run_cli(db, tmp_path, "add-key", "fixmystreet")
    assert again.returncode == 1 and "exists already" in again.stderr and not again.stdout
    bad = run_cli(db, tmp_path, "add-key", "no spaces please")
    assert bad.returncode == 1 and "invalid name" in bad.stderr

    listed = run_cli(db, tmp_path, "list-keys").stdout
    assert "fixmystreet" in listed and "active" in listed and "never used" in listed
    assert key not in listed

    assert client.file(key).status_code == 201
    assert "last used" in run_cli(db, tmp_path, "list-keys").stdout

    revoked = run_cli(db, tmp_path, "revoke-key", "fixmystreet")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    response = client.file(key)
    assert response.status_code == 403 and response.json()[0]["code"] == 403
    assert "revoked" in run_cli(db, tmp_path, "list-keys").stdout
    twice = run_cli(db, tmp_path, "revoke-key", "fixmystreet")
    assert twice.returncode == 0 and "already revoked" in twice.stdout
    # A revoked name stays taken, so the history keeps meaning one client.
    reuse = run_cli(db, tmp_path, "add-key", "fixmystreet")
    assert reuse.returncode == 1 and "revoked" in reuse.stderr

    ghost = run_cli(db, tmp_path, "revoke-key", "ghost")
    assert ghost.returncode == 1 and "no Open311 key named 'ghost'" in ghost.stderr
    usage = run_cli(db, tmp_path, "add-key")
    assert usage.returncode == 2  # argparse: the name is required
