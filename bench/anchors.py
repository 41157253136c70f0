"""The anchors of `make bench`: bare echo bots of the two fastest Python bot
frameworks, behind FastAPI like ours, answering the same fake Bot API.

They do no durable work (no database, no dedupe, no outbox): the figure they
give is what the framework and the web server cost alone, so the bot's ratio
to them says what our guarantees cost. Run one with
`python -m bench.anchors {aiogram,ptb} --port P --api URL --token T`.

aiogram is run as its own `SimpleRequestHandler` does by default (the update
handled in a background task, the webhook answered at once); python-telegram-bot
as its custom-webhook example does (the update put on the application's queue).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request


def aiogram_app(api: str, token: str) -> FastAPI:
    from aiogram import Bot, Dispatcher, types
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    dispatcher = Dispatcher()
    background: set[asyncio.Task[Any]] = set()

    @dispatcher.message()
    async def echo(message: types.Message) -> None:
        await message.answer(message.text or "")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await bot.session.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/webhooks/telegram")
    async def webhook(request: Request) -> dict[str, Any]:
        update = types.Update.model_validate(await request.json(), context={"bot": bot})
        task = asyncio.create_task(dispatcher.feed_update(bot, update))
        background.add(task)
        task.add_done_callback(background.discard)
        return {}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def ptb_app(api: str, token: str) -> FastAPI:
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    application = (Application.builder().token(token).base_url(f"{api}/bot")
                   .updater(None).build())

    async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message
        await update.message.reply_text(update.message.text or "")

    application.add_handler(MessageHandler(filters.TEXT, echo))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with application:
            await application.start()
            yield
            await application.stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/webhooks/telegram")
    async def webhook(request: Request) -> dict[str, Any]:
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return {}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("framework", choices=["aiogram", "ptb"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    make = aiogram_app if args.framework == "aiogram" else ptb_app
    uvicorn.run(make(args.api, args.token), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
