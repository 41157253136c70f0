"""The Municipality of Klokot's citizen bot: one conversation engine for Telegram,
Viber and a terminal, the outbox that delivers its replies, and the staff side."""
