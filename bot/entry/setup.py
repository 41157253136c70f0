"""`klokot-bot set-webhooks`: register our webhooks, secret, update kinds and
command list with the platforms, and the SMS number's incoming-text webhook
with Twilio (run once per deployment or address change)."""

from __future__ import annotations

import logging
import re

from telegram import BotCommand

from bot.channels.telegram import ALLOWED_UPDATES, COMMANDS
from bot.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)
VIBER_EVENTS = ["delivered", "seen", "failed", "subscribed", "unsubscribed",
                "conversation_started"]


async def set_webhooks(runtime: Runtime | None = None) -> int:
    runtime = runtime or build_runtime()
    settings = runtime.settings
    if not settings.public_url:
        print("PUBLIC_URL is not set: the platforms need an https address to call")
        return 2
    base = settings.public_url.rstrip("/")
    status = 0
    try:
        if runtime.telegram is not None:
            secret = settings.telegram_webhook_secret or ""
            if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
                print("TELEGRAM_WEBHOOK_SECRET must be 16–256 of A-Z a-z 0-9 _ -")
                status = 2
            else:
                bot = runtime.telegram.bot
                await bot.set_webhook(url=f"{base}/webhooks/telegram", secret_token=secret,
                                      allowed_updates=ALLOWED_UPDATES, max_connections=40)
                await bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
                print(f"Telegram webhook set to {base}/webhooks/telegram")
        if runtime.viber is not None:
            answer = await runtime.viber.call("set_webhook", {
                "url": f"{base}/webhooks/viber", "event_types": VIBER_EVENTS,
                "send_name": True, "send_photo": False,
            })
            if answer.get("status") != 0:
                print(f"Viber refused the webhook: {answer.get('status_message')}")
                status = 1
            else:
                print(f"Viber webhook set to {base}/webhooks/viber")
        if runtime.sms is not None:
            try:
                await runtime.sms.set_incoming_url(f"{base}/webhooks/sms")
            except ValueError as exc:
                print(f"Twilio refused the SMS webhook: {exc}")
                status = 1
            else:
                print(f"SMS webhook of {runtime.sms.from_number} set to {base}/webhooks/sms")
        if not runtime.providers:
            print("no channel configured (TELEGRAM_BOT_TOKEN, VIBER_AUTH_TOKEN, TWILIO_*)")
    finally:
        await runtime.close()
    return status
