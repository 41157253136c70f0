"""The only package that knows Telegram and Viber: inbound parsing and
verification, outbound rendering and sending."""
