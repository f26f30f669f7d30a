"""SQLAlchemy 2.x models. Importing this package registers every model with ``Base.metadata``."""

from models.accounts import AccessToken, Account, Device, EmailVerification
from models.audit import AuditChainHead, AuditEvent
from models.base import Base, tenant_models
from models.customers import Customer, Membership, Site
from models.door_control import DoorAlert, Lockdown, PassbackState
from models.doors import (
    Access,
    AccessDoor,
    AccessEvent,
    AccessMember,
    Controller,
    Door,
    DoorCredential,
    UnlockCommand,
)
from models.entries import Entry, EntryCorrection
from models.outbox import OutboxMail, ScheduledJob, WebhookDelivery, WebhookEndpoint
from models.privacy import Consent, JobLock, NoticeVersion, RetentionRun
from models.requests import (
    CustomerOffboarding,
    DataRequest,
    DataRequestEvent,
    DataRequestPart,
    Erasure,
    ErasureRecord,
    VerificationCode,
)
from models.site_ops import Inspection, Kiosk
from models.support import AccessGrant, Ticket, TicketMessage

__all__ = [
    "Access",
    "AccessDoor",
    "AccessEvent",
    "AccessGrant",
    "AccessMember",
    "AccessToken",
    "Account",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "Consent",
    "Controller",
    "Customer",
    "CustomerOffboarding",
    "DataRequest",
    "DataRequestEvent",
    "DataRequestPart",
    "Device",
    "Door",
    "DoorAlert",
    "DoorCredential",
    "EmailVerification",
    "Entry",
    "EntryCorrection",
    "Erasure",
    "ErasureRecord",
    "Inspection",
    "JobLock",
    "Kiosk",
    "Lockdown",
    "Membership",
    "NoticeVersion",
    "OutboxMail",
    "PassbackState",
    "RetentionRun",
    "ScheduledJob",
    "Site",
    "Ticket",
    "TicketMessage",
    "UnlockCommand",
    "VerificationCode",
    "WebhookDelivery",
    "WebhookEndpoint",
    "tenant_models",
]
