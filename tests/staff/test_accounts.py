"""Staff accounts without HTTP: linking an officer's own chat happens in one
place, whether the page or the chat asks."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database, utcnow
from bot.models import ChannelAccount
from bot.models.staff import AuditEntry, StaffUser
from bot.staff import accounts, security
from tests.factories import audit_log, load_staff, make_citizen, make_staff


def account_of(session: Session, citizen_id: int) -> ChannelAccount:
    return session.scalars(select(ChannelAccount).where(
        ChannelAccount.citizen_id == citizen_id)).one()


def test_a_code_links_once_and_only_before_it_expires(db: Database) -> None:
    make_staff(db, "mayor1", "mayor_office")
    chat = make_citizen(db, external_id="701")
    with db.session() as session:
        staff = accounts.find(session, "mayor1")
        assert staff is not None
        code = accounts.start_chat_link(session, staff)
    with db.session() as session:
        account = account_of(session, chat)
        with pytest.raises(accounts.ChatLinkRefused, match="invalid"):
            accounts.link_chat(session, code, account, utcnow() + timedelta(minutes=11))
        linked = accounts.link_chat(session, code, account, utcnow())
        assert linked.chat_account_id == account.id
        with pytest.raises(accounts.ChatLinkRefused, match="invalid"):  # used up
            accounts.link_chat(session, code, account, utcnow())


def test_linking_codes_are_ten_unambiguous_characters_typed_in_any_form() -> None:
    codes = {security.new_link_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"[2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5}", code), code
        assert not set(code) & set("01OIl")
    assert security.normal_link_code(" k7qmp 4xr-2w ") == "K7QMP4XR2W"


def test_the_officer_sees_which_chat_linked_on_the_page_and_in_the_audit(
        db: Database) -> None:
    officer = make_staff(db, "mayor2", "mayor_office")
    chat = make_citizen(db, channel="viber", external_id="viber-user-98765")
    with db.session() as session:
        account = account_of(session, chat)
        account.display_name = "Ana Marković"
        staff = load_staff(session, officer)
        code = accounts.start_chat_link(session, staff)
        accounts.link_chat(session, code.lower().replace("-", " "), account, utcnow())
    with db.read_session() as session:
        label, at = accounts.linked_chat(session, load_staff(session, officer)) or ("", None)
    assert label == "Viber · Ana Marković (…8765)" and at is not None
    entry = audit_log(db, "account.chat_link")[-1]
    assert entry.after == {"channel": "viber", "chat_account_id": account.id, "chat": label}


def test_off_from_the_chat_unlinks_every_officer_of_it_with_an_audit_entry(db: Database) -> None:
    make_staff(db, "a1", "admin")
    make_staff(db, "a2", "info_office")
    chat = make_citizen(db, external_id="702")
    with db.session() as session:
        account = account_of(session, chat)
        for officer in session.scalars(select(StaffUser)):
            officer.chat_account_id = account.id
    with db.session() as session:
        assert accounts.unlink_account(session, account_of(session, chat)) == 2
    with db.read_session() as session:
        assert all(s.chat_account_id is None for s in session.scalars(select(StaffUser)))
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "account.chat_unlink")).all()
        assert sorted(e.username for e in entries) == ["a1", "a2"]
        assert all(e.detail == "from the chat" and e.after == {"chat_account_id": None}
                   for e in entries)


def test_a_password_change_or_a_disabled_account_ends_the_calendar_feeds(db: Database) -> None:
    """A feed link is a secret like a session: it must not outlive the password
    an officer changed because it leaked (security review, item 22)."""
    from bot.refusals import NotFound
    from bot.staff.reception import calendar

    make_staff(db, "mayor1", "mayor_office")
    make_staff(db, "mayor2", "mayor_office")
    with db.session() as session:
        first, second = accounts.find(session, "mayor1"), accounts.find(session, "mayor2")
        assert first is not None and second is not None
        _, changed_token = calendar.create_feed(session, first, None, utcnow())
        _, disabled_token = calendar.create_feed(session, second, None, utcnow())
    with db.session() as session:
        first, second = accounts.find(session, "mayor1"), accounts.find(session, "mayor2")
        assert first is not None and second is not None
        accounts.set_password(session, first, "a new long password")
        accounts.disable(session, second)
    with db.session() as session:
        for token in (changed_token, disabled_token):
            with pytest.raises(NotFound):
                calendar.feed_for_token(session, token)
        assert calendar.own_feeds(session, first) == []
        accounts.enable(session, second)
    # enabling again does not bring the old link back
    with db.session() as session, pytest.raises(NotFound):
        calendar.feed_for_token(session, disabled_token)


def test_thirty_wrong_passwords_at_once_check_at_most_five(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thirty wrong passwords sent at once were all checked, and the right one
    got in; three bursts never locked the account (security review, item 1).
    Each attempt is counted before its password is checked, and the check
    runs with no write transaction open (item 2: argon2 inside SQLite's
    write lock held up every webhook)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from bot.staff import security
    from tests.factories import PASSWORD, make_settings

    make_staff(db, "target", "admin")
    settings = make_settings(db.url, login_delay_seconds=0.0, login_address_limit=100)
    checked: list[bool] = []
    lock = threading.Lock()
    real_verify = security.verify_password

    def counting_verify(password_hash: str | None, password: str) -> bool:
        assert db._writer is None, "the password is checked inside a write transaction"
        with lock:
            checked.append(True)
        time.sleep(0.05)  # argon2 takes a while: the others arrive meanwhile
        return real_verify(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", counting_verify)
    passwords = ["wrong guess"] * 30 + [PASSWORD]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda pw: accounts.authenticate(
            db, settings, "target", pw, "198.51.100.7"), passwords))
    assert len(checked) <= settings.login_max_failures
    assert sum(r.code == "account_locked" for r in results) >= 30 - settings.login_max_failures
    after = accounts.authenticate(db, settings, "target", PASSWORD, "198.51.100.7")
    assert after.token is None and after.code == "account_locked"  # refused while locked
