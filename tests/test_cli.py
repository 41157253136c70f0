"""The command line: staff accounts as an operator manages them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from bot.db import Database
from bot.models.staff import AuditEntry
from tests.factories import PASSWORD


def run_cli(db: Database, tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:  # noqa: E501
    env = {**os.environ, "DATABASE_URL": db.url, "KLOKOT_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "bot.cli", "staff", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=60)


def test_staff_command_line(db: Database, tmp_path: Path) -> None:
    created = run_cli(db, tmp_path, "add", "officer1", "--role", "admin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    dep = run_cli(db, tmp_path, "add", "roads", "--role", "department", "--department",
                  "cadastre_urbanism", stdin=PASSWORD + "\n")
    assert dep.returncode == 0, dep.stderr
    listed = run_cli(db, tmp_path, "list").stdout
    assert "officer1" in listed and "cadastre_urbanism" in listed

    assert run_cli(db, tmp_path, "add", "officer1", "--role", "viewer",
                   stdin=PASSWORD + "\n").returncode == 1
    weak = run_cli(db, tmp_path, "add", "weak", "--role", "viewer", stdin="short\n")
    assert weak.returncode == 1 and "at least 10" in weak.stderr
    nodep = run_cli(db, tmp_path, "add", "nodep", "--role", "department", stdin=PASSWORD)
    assert nodep.returncode == 1 and "--department" in nodep.stderr
    bad_role = run_cli(db, tmp_path, "add", "x", "--role", "mayor")
    assert bad_role.returncode == 2

    assert run_cli(db, tmp_path, "password", "officer1",
                   stdin="a-brand-new-password\n").returncode == 0
    assert run_cli(db, tmp_path, "disable", "roads").returncode == 0
    assert "disabled" in run_cli(db, tmp_path, "list").stdout
    assert run_cli(db, tmp_path, "disable", "ghost").returncode == 1
    with db.read_session() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        who = set(session.scalars(select(AuditEntry.username)))
    assert actions == ["account.create", "account.create", "account.password",
                       "account.disable"]
    assert who == {"(command line)"}


def test_a_database_that_cannot_be_reached_is_named_without_a_traceback(tmp_path: Path) -> None:
    """Walking the recipe, `klokot-bot migrate` with a role that did not exist
    printed sixty lines of SQLAlchemy traceback."""
    url = "postgresql+psycopg://klokot:the-password@127.0.0.1:1/klokot"  # nothing listens on 1
    env = {**os.environ, "DATABASE_URL": url, "KLOKOT_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "migrate"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "cannot use the database postgresql+psycopg://klokot:***@127.0.0.1:1/klokot: " \
           "connection failed" in done.stderr
    assert "the-password" not in done.stderr
    assert "check DATABASE_URL" in done.stderr
