"""The conversation engine: StatesGroup flows on `transitions`, routers, the
per-message context and the dispatcher. The neutral messages it works with are
in `bot/messages.py`."""
