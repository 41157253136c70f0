"""All tables, one module per capability; importing this registers them on Base."""

from bot.models.attempts import CodeAttempts
from bot.models.citizen import ChannelAccount, Citizen, Conversation
from bot.models.complaints import (
    Complaint,
    ComplaintEvent,
    ComplaintKind,
    ComplaintPhoto,
    ComplaintStatus,
    Open311Key,
    PhotoStatus,
)
from bot.models.documents import (
    DocumentEvent,
    DocumentFile,
    DocumentForm,
    DocumentRequest,
    DocumentStatus,
)
from bot.models.inbound import InboundStatus, InboundUpdate
from bot.models.notices import (
    LinkCode,
    Notice,
    NoticeAnswer,
    NoticeRecipient,
    NoticeStatus,
    Subscription,
)
from bot.models.outbox import Lane, OutboxMessage, OutboxStatus, SenderLease
from bot.models.reception import (
    Booking,
    BookingStatus,
    CalendarFeed,
    ReceptionDay,
    UrgentRequest,
    UrgentStatus,
)
from bot.models.references import ReferenceCounter, next_reference
from bot.models.sms import SmsConsentSource, SmsKeywordReply, SmsSubscription
from bot.models.staff import AuditEntry, Role, SignInCounter, StaffToken, StaffUser
from bot.models.surveys import (
    Survey,
    SurveyMarker,
    SurveyParticipant,
    SurveyResponse,
    SurveyStatus,
)
from bot.models.voice import VoiceMessage, VoiceStatus

__all__ = [
    "AuditEntry",
    "Booking",
    "BookingStatus",
    "CalendarFeed",
    "ChannelAccount",
    "Citizen",
    "CodeAttempts",
    "Complaint",
    "ComplaintEvent",
    "ComplaintKind",
    "ComplaintPhoto",
    "ComplaintStatus",
    "Conversation",
    "DocumentEvent",
    "DocumentFile",
    "DocumentForm",
    "DocumentRequest",
    "DocumentStatus",
    "InboundStatus",
    "InboundUpdate",
    "Lane",
    "LinkCode",
    "Notice",
    "NoticeAnswer",
    "NoticeRecipient",
    "NoticeStatus",
    "Open311Key",
    "OutboxMessage",
    "OutboxStatus",
    "PhotoStatus",
    "ReceptionDay",
    "ReferenceCounter",
    "Role",
    "SenderLease",
    "SignInCounter",
    "SmsConsentSource",
    "SmsKeywordReply",
    "SmsSubscription",
    "StaffToken",
    "StaffUser",
    "Subscription",
    "Survey",
    "SurveyMarker",
    "SurveyParticipant",
    "SurveyResponse",
    "SurveyStatus",
    "UrgentRequest",
    "UrgentStatus",
    "VoiceMessage",
    "VoiceStatus",
    "next_reference",
]
