"""Officer alerts reach linked chats only; `klokot-bot staff` manages accounts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from bot.db import Database
from bot.i18n import Catalogs
from bot.messages import Reply
from bot.models import ChannelAccount, OutboxMessage
from bot.models.staff import AuditEntry, Role, StaffUser
from bot.profile import get_profile
from bot.services.notify import alert_officers
from tests.factories import PASSWORD, make_citizen, make_staff


def link(db: Database, username: str, external_id: str) -> None:
    citizen_id = make_citizen(db, external_id=external_id)
    with db.session() as session:
        account = session.scalars(select(ChannelAccount).where(
            ChannelAccount.citizen_id == citizen_id)).one()
        staff = session.scalars(select(StaffUser).where(StaffUser.username == username)).one()
        staff.chat_account_id = account.id


def test_alerts_go_to_linked_officers_of_the_role_in_their_language(db: Database) -> None:
    make_staff(db, "mayor-sq", "mayor_office", language="sq")
    make_staff(db, "mayor-unlinked", "mayor_office")
    make_staff(db, "info-en", "info_office")
    link(db, "mayor-sq", "501")
    link(db, "info-en", "502")
    with db.session() as session:
        rows = alert_officers(
            session, get_profile(), Catalogs(), roles=(Role.mayor_office,),
            message=lambda t: Reply(t("staff.nav.reception")),
        )
        assert [(r.chat_id, r.body["text"], r.origin) for r in rows] == [
            ("501", Catalogs().gettext("sq", "staff.nav.reception"), "bot")]
    with db.read_session() as session:
        assert len(session.scalars(select(OutboxMessage)).all()) == 1


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
