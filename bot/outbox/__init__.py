"""The outbox: writing messages (queue), electing the one sender (lease),
and delivering them within the platforms' limits (sender)."""
