"""`klokot-bot`: serve, worker, poll, chat, migrate, staff, open311, set-webhooks, doctor,
backup, restore."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from bot import logs
from bot.config import Settings, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.orm import Session

log = logging.getLogger("klokot-bot")


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.migrate import upgrade

    url = get_settings().database_url
    upgrade(url)
    print(f"database is at the latest schema ({url.split('@')[-1]})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.migrate import upgrade

    settings = get_settings()
    workers = settings.web_concurrency if args.workers is None else args.workers
    if workers < 1:
        print("klokot-bot: --workers is 1 or more", file=sys.stderr)
        return 2
    if workers > 1 and settings.is_sqlite:
        # SQLite has one writer at a time: N processes would queue behind each
        # other's write lock (and a long one fails with "database is locked").
        print(f"klokot-bot: serve --workers {workers} needs PostgreSQL (DATABASE_URL); "
              "SQLite takes one writer at a time, so serve it with one process "
              "(--workers 1, the default)", file=sys.stderr)
        return 2
    settings.resolved_secret_key()  # refuse a placeholder before serving anything
    settings.resolved_survey_key()  # made here once, before N processes read it
    if args.migrate:
        upgrade(settings.database_url)
    if workers == 1:
        from bot.app import create_app
        from bot.runtime import freeze_startup_objects

        app: FastAPI | str = create_app(settings)
        freeze_startup_objects()
    else:
        # uvicorn's supervisor: it starts the N processes on one socket, passes
        # SIGINT/SIGTERM on to them (each stops its sender and closes cleanly),
        # and starts a new one in place of a process that dies.
        app = "bot.cli:web_app"
    uvicorn.run(app, factory=workers > 1, workers=workers,
                host=args.host or settings.host, port=args.port or settings.port,
                log_level=settings.log_level.lower(), proxy_headers=True,
                log_config=logs.uvicorn_config(settings.log_level, settings.log_format))
    return 0


def web_app() -> FastAPI:
    """The app of one of the processes of `serve --workers N`, which uvicorn
    imports in each: its own logging, runtime and (unless OUTBOX_IN_WEB=false)
    sender loop, which sends only while it holds the lease."""
    from bot.app import create_app
    from bot.runtime import freeze_startup_objects

    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    app = create_app(settings)
    freeze_startup_objects()
    return app


def cmd_worker(args: argparse.Namespace) -> int:
    from bot.worker import run_worker

    asyncio.run(run_worker())
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from bot.entry.polling import run_polling

    return asyncio.run(run_polling())


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.entry.chat import TerminalChat
    from bot.migrate import upgrade
    from bot.runtime import build_runtime

    settings = get_settings()
    upgrade(settings.database_url)
    runtime = build_runtime(settings, quiet=True)
    TerminalChat(runtime.engine, runtime.db, user=args.user, language=args.language,
                 photos=runtime.photo_fetcher(terminal=True),
                 voices=runtime.voice_fetcher(terminal=True)).loop()
    runtime.db.dispose()
    return 0


def cmd_set_webhooks(args: argparse.Namespace) -> int:
    from bot.entry.setup import set_webhooks

    return asyncio.run(set_webhooks())


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.entry.doctor import doctor

    return doctor(get_settings())


def _read_password(confirm: bool = True) -> str:
    """From stdin when piped; otherwise prompted (twice, to catch typos)."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Password again: ") != first:
        raise SystemExit("the two passwords differ; nothing was changed")
    return first


def _on_database(work: Callable[[Session, Settings], int]) -> int:
    """Run an operator's command in one transaction on the migrated database;
    a refusal (a taken name, a weak password) is said on stderr, exit 1."""
    from bot.db import Database
    from bot.migrate import upgrade
    from bot.refusals import Refused

    settings = get_settings()
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            return work(session, settings)
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        db.dispose()


def cmd_staff(args: argparse.Namespace) -> int:
    from bot.models.staff import Role, StaffUser
    from bot.profile import load_profile
    from bot.staff import accounts

    def work(session: Session, settings: Settings) -> int:
        if args.action == "list":
            from sqlalchemy import select

            for each in session.scalars(select(StaffUser).order_by(StaffUser.username)):
                state = "disabled" if each.disabled_at else "active"
                chat = "chat linked" if each.chat_account_id else ""
                print(f"{each.username:24} {each.role.value:13} "
                      f"{each.department or '':18} {state:9} {chat}")
            return 0
        if args.action == "add":
            accounts.create_staff(
                session, load_profile(settings.profile_path), username=args.username,
                password=_read_password(), role=Role(args.role),
                department=args.department, full_name=args.name,
                language=args.language,
            )
            print(f"created {args.username} ({args.role})")
            return 0
        staff = accounts.find(session, args.username)
        if staff is None:
            print(f"no staff account {args.username!r}", file=sys.stderr)
            return 1
        if args.action == "disable":
            accounts.disable(session, staff)
            print(f"disabled {staff.username}; its sessions and tokens no longer work")
        elif args.action == "enable":
            accounts.enable(session, staff)
            print(f"enabled {staff.username}")
        elif args.action == "password":
            accounts.set_password(session, staff, _read_password())
            print(f"password changed for {staff.username}; its old sessions are closed")
        return 0

    return _on_database(work)


def cmd_open311(args: argparse.Namespace) -> int:
    from bot.db import utcnow
    from bot.open311 import keys

    def work(session: Session, settings: Settings) -> int:
        if args.action == "list-keys":
            rows = keys.list_keys(session)
            if not rows:
                print("no Open311 keys yet; make one with 'klokot-bot open311 add-key NAME'")
            for row in rows:
                state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                used = (f"last used {row.last_used_at:%Y-%m-%d %H:%M} UTC"
                        if row.last_used_at else "never used")
                print(f"{row.name:32} {state:18} created {row.created_at:%Y-%m-%d}  {used}")
            return 0
        if args.action == "add-key":
            _, key = keys.add_key(session, args.name, now=utcnow())
            print(f"created the Open311 key {args.name!r}; it is shown only now, "
                  "so store it:", file=sys.stderr)
            print(key)
            return 0
        row, was_active = keys.revoke_key(session, args.name, now=utcnow())
        print(f"revoked the Open311 key {row.name!r}; it no longer works" if was_active
              else f"the Open311 key {row.name!r} was already revoked")
        return 0

    return _on_database(work)


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.backup import BackupRefused, backup

    settings = get_settings()
    try:
        manifest = backup(settings.database_url, settings.media_dir, args.directory)
    except BackupRefused as exc:
        print(f"backup refused: {exc}", file=sys.stderr)
        return 1
    rows = sum(manifest["tables"].values())
    print(f"backed up the {manifest['database']} database at revision "
          f"{manifest['alembic_revision']} ({rows} rows in {len(manifest['tables'])} tables) "
          f"and {settings.media_dir} into {args.directory}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from bot.backup import BackupRefused, restore

    settings = get_settings()
    try:
        restored = restore(args.directory, settings.database_url, settings.media_dir)
    except BackupRefused as exc:
        print(f"restore refused: {exc}", file=sys.stderr)
        return 1
    manifest = restored.manifest
    if restored.moved_paths:
        print(f"pointed {restored.moved_paths} stored file paths from "
              f"{manifest.data['media_dir']} to {settings.media_dir.resolve()}")
    print(f"restored the backup of {manifest.data['created_at']} (revision "
          f"{manifest.revision}) into the database and {settings.media_dir}; "
          "run 'klokot-bot migrate' if this release is newer")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="klokot-bot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="the web app: webhooks, staff API and pages")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers", type=int, metavar="N",
        help="web processes on the one port (default: WEB_CONCURRENCY, else 1); the sender "
             "runs in whichever holds the lease. N > 1 needs PostgreSQL: it is refused on "
             "SQLite, which takes one writer at a time")
    serve.add_argument("--no-migrate", dest="migrate", action="store_false",
                       help="do not upgrade the database first")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="the outbox sender and timers").set_defaults(func=cmd_worker)
    sub.add_parser("poll", help="Telegram long polling (no public address needed)"
                   ).set_defaults(func=cmd_poll)
    chat = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", help="who you are in the chat (default: your login name)")
    chat.add_argument("--language", help="the language your 'phone' reports, e.g. sq or sr")
    chat.set_defaults(func=cmd_chat)
    sub.add_parser("migrate", help="upgrade the database schema").set_defaults(func=cmd_migrate)
    sub.add_parser("set-webhooks", help="register the webhooks with Telegram, Viber and Twilio"
                   ).set_defaults(func=cmd_set_webhooks)
    sub.add_parser("doctor", help="check the installation: settings, database, "
                   "directories, webhooks, sender; exit 1 on any problem"
                   ).set_defaults(func=cmd_doctor)
    staff = sub.add_parser("staff", help="staff accounts (the first admin is made here)")
    staff_sub = staff.add_subparsers(dest="action", required=True)
    add = staff_sub.add_parser("add", help="create an account; password from stdin or prompt")
    add.add_argument("username")
    add.add_argument("--role", required=True,
                     choices=["admin", "mayor_office", "info_office", "department", "viewer"])
    add.add_argument("--department", help="department code (role department only)")
    add.add_argument("--name", help="full name shown on the pages")
    add.add_argument("--language", default="en", choices=["en", "sr_Latn", "sr_Cyrl", "sq"])
    staff_sub.add_parser("list", help="all accounts")
    for action, text in (("disable", "disable an account (its tokens stop at once)"),
                         ("enable", "enable a disabled account"),
                         ("password", "set a new password (stdin or prompt)")):
        staff_sub.add_parser(action, help=text).add_argument("username")
    staff.set_defaults(func=cmd_staff)
    open311 = sub.add_parser("open311", help="API keys of Open311 (GeoReport v2) clients")
    open311_sub = open311.add_subparsers(dest="action", required=True)
    open311_sub.add_parser("add-key", help="make a key for a client and print it once"
                           ).add_argument("name", help="the client, e.g. fixmystreet")
    open311_sub.add_parser("list-keys", help="all keys (names and use, never the keys)")
    open311_sub.add_parser("revoke-key", help="revoke a client's key at once"
                           ).add_argument("name")
    open311.set_defaults(func=cmd_open311)
    backup = sub.add_parser("backup", help="a consistent copy of the database and the media "
                            "directory, with a manifest, into a new directory")
    backup.add_argument("directory", type=Path, help="where to write it (new or empty)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="a backup into an EMPTY database and media "
                             "directory (refuses anything else)")
    restore.add_argument("directory", type=Path, help="a directory 'backup' wrote")
    restore.set_defaults(func=cmd_restore)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:  # a setting an operator mistyped: name it, no traceback
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            print(f"klokot-bot: {name}: {error['msg']}", file=sys.stderr)
        return 2
    # The terminal chat is for people: only warnings interrupt the conversation.
    logs.configure("WARNING" if args.command == "chat" else settings.log_level,
                   "text" if args.command == "chat" else settings.log_format)
    try:
        return int(args.func(args) or 0)
    except (OperationalError, InterfaceError) as exc:
        # The first thing an operator runs (`migrate`) with a mistyped password
        # or a stopped server: say which database and why, no traceback.
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"klokot-bot: cannot use the database {where}: {reason}", file=sys.stderr)
        print("klokot-bot: check DATABASE_URL and that the database server is running "
              "(klokot-bot doctor names what else is wrong)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
