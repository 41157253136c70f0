"""All tables, one module per capability; importing this registers them on Base."""

from bot.models.citizen import ChannelAccount, Citizen, Conversation
from bot.models.inbound import InboundStatus, InboundUpdate
from bot.models.outbox import Lane, OutboxMessage, OutboxStatus, SenderLease
from bot.models.staff import AuditEntry, Role, StaffToken, StaffUser

__all__ = [
    "AuditEntry",
    "ChannelAccount",
    "Citizen",
    "Conversation",
    "InboundStatus",
    "InboundUpdate",
    "Lane",
    "OutboxMessage",
    "OutboxStatus",
    "Role",
    "SenderLease",
    "StaffToken",
    "StaffUser",
]
