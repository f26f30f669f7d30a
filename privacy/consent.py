"""Consent: versioned notices, each person's choice per purpose, withdrawal as easy as giving.

Only purposes whose legal basis in the registry is ``consent`` take a consent. A choice is a
new ``Consent`` row (the history demonstrates what was agreed to, Art. 7(1)); the latest row
per purpose is the current choice. Processing that rests on consent asks :func:`has_consent`
at the moment it processes, so a withdrawal stops it at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.errors import Unprocessable, ValidationFailed
from models import Account, Consent, NoticeVersion
from models.vocab import CONSENT_CHANNELS
from privacy import registry


def consent_purposes() -> list[registry.Purpose]:
    return [p for p in registry.purposes() if p.legal_basis == "consent"]


def _consent_purpose(key: str) -> registry.Purpose:
    try:
        p = registry.purpose(key)
    except KeyError:
        raise ValidationFailed({"purpose": [f"No purpose {key!r}."]}) from None
    if p.legal_basis != "consent":
        raise Unprocessable(f"Purpose {key!r} does not rest on consent.",
                            slug="not-consent-based")
    return p


def publish_notice(session: Session, purpose: str, *, url: str, text: str) -> NoticeVersion:
    """Publish the next version of the notice for a consent-based purpose. Flushes."""
    _consent_purpose(purpose)
    if not url or not text.strip():
        raise ValidationFailed({"notice": ["A notice needs its URL and its text."]})
    last = session.scalar(select(func.max(NoticeVersion.version))
                          .where(NoticeVersion.purpose == purpose)) or 0
    nv = NoticeVersion(id=uuid.uuid4(), purpose=purpose, version=last + 1, url=url,
                       text_sha256=hashlib.sha256(text.encode()).hexdigest(),
                       published_at=clock.now())
    session.add(nv)
    session.flush()
    return nv


def current_notice(session: Session, purpose: str) -> NoticeVersion | None:
    return session.scalar(
        select(NoticeVersion).where(NoticeVersion.purpose == purpose,
                                    NoticeVersion.published_at <= clock.now())
        .order_by(NoticeVersion.version.desc()).limit(1)
    )


def _latest(session: Session, account_id: uuid.UUID, purpose: str) -> Consent | None:
    return session.scalar(
        select(Consent).where(Consent.account_id == account_id, Consent.purpose == purpose)
        .order_by(Consent.decided_at.desc()).limit(1)
    )


def has_consent(session: Session, account_id: uuid.UUID, purpose: str) -> bool:
    """Whether processing ``purpose`` for this person rests on a consent that stands now."""
    if registry.purpose(purpose).legal_basis != "consent":
        raise ValueError(f"purpose {purpose!r} does not rest on consent")
    c = _latest(session, account_id, purpose)
    return bool(c and c.granted)


@dataclasses.dataclass(frozen=True)
class Choice:
    purpose: str
    granted: bool
    notice_version: int | None = None


def decide(session: Session, account_id: uuid.UUID, choices: Iterable[Choice],
           channel: str) -> list[Consent]:
    """Record the person's choices. Giving names the notice version shown, which must be the
    current one; withdrawing needs nothing else. An unchanged choice records nothing."""
    if channel not in CONSENT_CHANNELS:
        raise ValidationFailed({"channel": [f"One of {', '.join(CONSENT_CHANNELS)}."]})
    out: list[Consent] = []
    seen: set[str] = set()
    for ch in choices:
        if ch.purpose in seen:
            raise ValidationFailed({"consents": [f"{ch.purpose!r} is given twice."]})
        seen.add(ch.purpose)
        _consent_purpose(ch.purpose)
        notice_id = None
        if ch.granted:
            notice = current_notice(session, ch.purpose)
            if notice is None:
                raise Unprocessable(f"No notice is published for {ch.purpose!r} yet.",
                                    slug="no-notice")
            if ch.notice_version != notice.version:
                raise Unprocessable(
                    f"Consent to {ch.purpose!r} must name the current notice version "
                    f"({notice.version}).", slug="stale-notice", current_version=notice.version)
            notice_id = notice.id
        last = _latest(session, account_id, ch.purpose)
        if last is not None and last.granted == ch.granted and (
                not ch.granted or last.notice_version_id == notice_id):
            continue
        at = clock.now()
        if last is not None and at <= last.decided_at:
            # Decisions are ordered by time: one made in the same instant (a coarse or
            # frozen clock) still comes after the one before it.
            at = last.decided_at + dt.timedelta(microseconds=1)
        c = Consent(id=uuid.uuid4(), account_id=account_id, purpose=ch.purpose,
                    granted=ch.granted, notice_version_id=notice_id, channel=channel,
                    decided_at=at)
        session.add(c)
        out.append(c)
    session.flush()
    return out


@dataclasses.dataclass
class ConsentState:
    purpose: registry.Purpose
    granted: bool
    decided_at: dt.datetime | None
    channel: str | None
    agreed_version: int | None
    current_notice: NoticeVersion | None


def overview(session: Session, account_id: uuid.UUID) -> list[ConsentState]:
    """The person's current choice for every consent-based purpose."""
    out = []
    for p in consent_purposes():
        c = _latest(session, account_id, p.key)
        agreed = session.get(NoticeVersion, c.notice_version_id) if (
            c and c.notice_version_id) else None
        out.append(ConsentState(p, bool(c and c.granted), c.decided_at if c else None,
                                c.channel if c else None, agreed.version if agreed else None,
                                current_notice(session, p.key)))
    return out


def consenting_accounts(session: Session, purpose: str) -> Iterator[Account]:
    """Active accounts whose latest choice for ``purpose`` is a consent, checked now."""
    if registry.purpose(purpose).legal_basis != "consent":
        raise ValueError(f"purpose {purpose!r} does not rest on consent")
    latest = (select(Consent.account_id, func.max(Consent.decided_at).label("at"))
              .where(Consent.purpose == purpose).group_by(Consent.account_id).subquery())
    stmt = (select(Account)
            .join(latest, latest.c.account_id == Account.id)
            .join(Consent, (Consent.account_id == Account.id) & (Consent.purpose == purpose)
                  & (Consent.decided_at == latest.c.at))
            .where(Consent.granted.is_(True), Account.is_active.is_(True))
            .order_by(Account.id))
    yield from session.scalars(stmt).unique()
