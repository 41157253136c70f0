"""The only package that knows Telegram and Viber: inbound parsing and
verification, outbound rendering, sending and media fetching, behind the
provider interface of `base.py`. The processes that drive them (webhook routes,
polling, set-webhooks, the terminal chat) are in `bot/entry/`."""
