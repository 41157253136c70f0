"""`klokot-bot`: serve, worker, poll, chat, migrate, staff, open311, set-webhooks."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from bot.config import get_settings

log = logging.getLogger("klokot-bot")


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "transitions", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.migrate import upgrade

    url = get_settings().database_url
    upgrade(url)
    print(f"database is at the latest schema ({url.split('@')[-1]})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.app import create_app
    from bot.migrate import upgrade

    settings = get_settings()
    settings.resolved_secret_key()  # refuse a placeholder before serving anything
    if args.migrate:
        upgrade(settings.database_url)
    app = create_app(settings)
    uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port,
                log_level=settings.log_level.lower(), proxy_headers=True)
    return 0


async def _run_worker() -> None:
    from bot.app import build_sender
    from bot.runtime import build_runtime

    runtime = build_runtime()
    if not runtime.providers:
        log.warning("no channel configured: the worker has nothing to send")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await build_sender(runtime).run(stop)
    finally:
        await runtime.close()


def cmd_worker(args: argparse.Namespace) -> int:
    asyncio.run(_run_worker())
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from bot.channels.polling import run_polling

    return asyncio.run(run_polling())


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.channels.terminal import TerminalChat
    from bot.migrate import upgrade
    from bot.runtime import build_runtime

    settings = get_settings()
    upgrade(settings.database_url)
    runtime = build_runtime(settings, quiet=True)
    TerminalChat(runtime.engine, runtime.db, user=args.user, language=args.language).loop()
    runtime.db.dispose()
    return 0


def cmd_set_webhooks(args: argparse.Namespace) -> int:
    from bot.channels.setup import set_webhooks

    return asyncio.run(set_webhooks())


def cmd_not_yet(args: argparse.Namespace) -> int:
    print(f"'klokot-bot {args.command}' is not built yet (see the issue tracker)",
          file=sys.stderr)
    return 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="klokot-bot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="the web app: webhooks, staff API and pages")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
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
    sub.add_parser("set-webhooks", help="register the webhooks with Telegram and Viber"
                   ).set_defaults(func=cmd_set_webhooks)
    for name in ("staff", "open311"):
        sub.add_parser(name, help="(not built yet)").set_defaults(func=cmd_not_yet)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The terminal chat is for people: only warnings interrupt the conversation.
    _logging("WARNING" if args.command == "chat" else get_settings().log_level)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
