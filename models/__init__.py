"""SQLAlchemy 2.x models. Importing this package registers every model with ``Base.metadata``."""

from models.accounts import AccessToken, Account, Device
from models.audit import AuditEvent
from models.base import Base, tenant_models
from models.customers import Customer, Membership, Site
from models.entries import Entry, EntryCorrection

__all__ = [
    "AccessToken",
    "Account",
    "AuditEvent",
    "Base",
    "Customer",
    "Device",
    "Entry",
    "EntryCorrection",
    "Membership",
    "Site",
    "tenant_models",
]
