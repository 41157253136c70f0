"""Process entry points: webhook routes, Telegram polling, set-webhooks, the terminal chat."""
