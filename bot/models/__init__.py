"""All tables, one module per capability; importing this registers them on Base."""

from bot.models.citizen import ChannelAccount, Citizen, Conversation
from bot.models.inbound import InboundStatus, InboundUpdate
from bot.models.outbox import Lane, OutboxMessage, OutboxStatus, SenderLease

__all__ = [
    "ChannelAccount",
    "Citizen",
    "Conversation",
    "InboundStatus",
    "InboundUpdate",
    "Lane",
    "OutboxMessage",
    "OutboxStatus",
    "SenderLease",
]
