"""`/staff CODE` from a chat: guessing an officer's linking code stops after
five wrong codes (the same limit as /link), a right code sent while stopped
is refused, and the officer can see which chat linked."""

from __future__ import annotations

from sqlalchemy import select

from bot.db import Database
from bot.i18n import Catalogs
from bot.models import CodeAttempts
from bot.models.staff import AuditEntry, StaffUser
from bot.profile import get_profile
from bot.staff import accounts
from tests.factories import audit_log, make_incoming, make_runtime, make_staff, texts

T = Catalogs()
PROFILE = get_profile()


def say(db: Database, text: str, *, user: str = "stranger", channel: str = "telegram",
        name: str | None = None) -> str:
    runtime = make_runtime(db)  # a new runtime each time: a restart between messages
    return texts(runtime.engine.handle(make_incoming(
        text, user=user, channel=channel, display_name=name, language_hint="en")).replies)


def code_for(db: Database, staff_id: int) -> str:
    with db.session() as session:
        staff = session.get(StaffUser, staff_id)
        assert staff is not None
        return accounts.start_chat_link(session, staff)


def test_forty_wrong_codes_from_one_chat_are_stopped_after_five(db: Database) -> None:
    """Review #13, item 4: 40 wrong codes from one chat, none throttled; a
    right guess links a stranger's chat to an account that gets urgent
    reception alerts with names and phones."""
    officer = make_staff(db, "mayoroffice", "mayor_office")
    code = code_for(db, officer)
    invalid = T.gettext("sr_Latn", "staff_link.invalid")  # no language chosen yet
    answers = [say(db, f"/staff {10_000_000 + i}") for i in range(40)]
    assert answers[:4] == [invalid] * 4
    with db.read_session() as session:
        until = session.scalars(select(CodeAttempts)).one().locked_until
    assert until is not None
    stopped = T.gettext("sr_Latn", "staff_link.too_many", minutes=15,
                        time=f"{until.astimezone(PROFILE.tz):%H:%M}")
    assert answers[4:] == [stopped] * 36
    # The right code, while the chat is stopped: refused, nothing linked.
    assert say(db, f"/staff {code}") == stopped
    with db.read_session() as session:
        assert session.get(StaffUser, officer).chat_account_id is None  # type: ignore[union-attr]
    # The officer's own phone is not stopped by the stranger's guessing.
    assert "mayoroffice" in say(db, f"/staff {code}", user="officer-phone", name="Ana M.")
    stops = audit_log(db, "account.chat_code_locked")
    assert len(stops) == 1 and stops[0].after["channel"] == "telegram"


def test_the_code_is_typed_in_any_case_with_spaces_or_dashes(db: Database) -> None:
    officer = make_staff(db, "info", "info_office")
    code = code_for(db, officer)
    typed = " ".join(code.replace("-", "").lower()[i:i + 2] for i in range(0, 10, 2))
    assert "info" in say(db, f"/staff {typed}", user="officer-phone", name="Ana M.")
    entry = audit_log(db, "account.chat_link")[-1]
    assert isinstance(entry, AuditEntry) and entry.after is not None
    assert entry.after["channel"] == "telegram"
    assert entry.after["chat"] == "Telegram · Ana M. (…hone)"
