"""Data-subject requests: identity verification, due dates, routing to customers, decisions,
and carrying them out (GDPR Art. 12, 15-22).

State machine of a request::

    received --(code from the account's mailbox)--> verified
    verified --> in_progress                   (nothing for a customer to decide)
    verified --> waiting_for_customer          (parts routed to the customers concerned)
    waiting_for_customer --(every part decided)--> in_progress --> completed | denied

A request made in a signed-in session with a fresh password check is verified on receipt.
The answer is due one calendar month after receipt (Art. 12(3); 31 January -> 28/29
February), extendable once by up to two further months with the reason told to the person.
Every step is a ``DataRequestEvent``; what an admin did is also in the customer's audit trail.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from entryfy import clock, mail, security
from entryfy.db import end_read_transaction, rows_written
from entryfy.errors import (
    Conflict,
    EntryfyError,
    NotFound,
    Unprocessable,
    ValidationFailed,
)
from models import Account, DataRequest, DataRequestEvent, DataRequestPart
from models.customers import admin_addresses
from models.requests import VerificationCode
from models.tenancy import system_scope
from models.vocab import REQUEST_TYPES
from privacy import audit, erasure, subjects

log = logging.getLogger(__name__)

CODE_LIFETIME = dt.timedelta(minutes=15)
CODE_MAX_ATTEMPTS = 5
MAX_EXTENSION_MONTHS = 2
# A customer answers its part a week before the request is due, so the answer is on time.
PART_LEAD = dt.timedelta(days=7)
# Types a customer decides on for its tenant data. Access and portability are answered from
# the data map directly (the register extract covers every customer's data about the person).
ROUTED_TYPES = ("rectification", "erasure", "restriction", "objection")
OPEN = ("received", "verified", "in_progress", "waiting_for_customer")


# ------------------------------------------------------------------ dates

def due_date(received_at: dt.datetime, extended_months: int = 0) -> dt.datetime:
    """One calendar month after receipt, plus any extension, counted from receipt so a month
    end stays a month end (31 Jan + 1 month = 28/29 Feb; + 3 months = 30 Apr)."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be aware")
    return received_at.astimezone(dt.UTC) + relativedelta(months=1 + extended_months)


def part_due_date(request: DataRequest, now: dt.datetime) -> dt.datetime:
    due = request.due_at - PART_LEAD
    return due if due > now else request.due_at


# ------------------------------------------------------------------ history

def _event(session: Session, req: DataRequest, action: str, *, role: str,
           part: DataRequestPart | None = None, note: str | None = None) -> None:
    session.flush()
    last = session.scalar(select(func.max(DataRequestEvent.seq))
                          .where(DataRequestEvent.request_id == req.id)) or 0
    session.add(DataRequestEvent(
        id=uuid.uuid4(), request_id=req.id, seq=last + 1, part_id=part.id if part else None,
        customer_id=part.customer_id if part else None, occurred_at=clock.now(),
        actor_role=role, action=action, status=part.status if part else req.status, note=note,
    ))


def _notify(req: DataRequest, subject: str, body: str, session: Session) -> None:
    """Tell the person by mail (their account's address). Nothing about them is logged."""
    if req.account_id is None:
        return
    # The person's own address, whoever acts (vendor staff, a customer's admin): the accounts
    # wall shows an account only in its own or the system scope.
    with system_scope(session, "mail the person about their own request"):
        email = session.scalar(select(Account.email).where(Account.id == req.account_id))
    if email and not email.endswith("@" + erasure.ACCOUNT_EMAIL_DOMAIN):
        mail.send(email, subject, body)


def _type_label(t: str) -> str:
    return {"access": "access (register extract)", "portability": "data portability"}.get(t, t)


# ------------------------------------------------------------------ receiving

def _check_type(type_: str) -> None:
    if type_ not in REQUEST_TYPES:
        raise ValidationFailed({"type": [f"One of: {', '.join(REQUEST_TYPES)}."]})


def _new(session: Session, account_id: uuid.UUID, type_: str, details: str | None,
         channel: str) -> DataRequest:
    _check_type(type_)
    now = clock.now()
    req = DataRequest(id=uuid.uuid4(), account_id=account_id, type=type_, details=details,
                      channel=channel, status="received", received_at=now,
                      due_at=due_date(now), extended_months=0)
    session.add(req)
    session.flush()
    _event(session, req, "received", role="subject", note=f"channel={channel}")
    return req


def submit(session: Session, account: Account, type_: str, details: str | None,
           password: str) -> DataRequest:
    """A request from a signed-in session; the fresh password check verifies it."""
    return submit_once(session, account, type_, details, password)[0]


def submit_once(session: Session, account: Account, type_: str, details: str | None,
                password: str, *, idempotency_key: str | None = None
                ) -> tuple[DataRequest, bool]:
    """``submit`` with a retry key: the same key again returns the request it made
    (``False``: not created now). Two at once: the unique index (account_id,
    idempotency_key) refuses the second at commit, and the caller reads the first."""
    _check_type(type_)
    end_read_transaction(session)  # no lock held while hashing
    if not security.passwords().verify(account.password_hash, password):
        err = ValidationFailed({"password": ["The password is wrong."]},
                               detail="Confirm the request with your password.")
        err.slug = "current-password-wrong"  # counted by the API's current-password throttle
        raise err
    if idempotency_key:
        found = replayed(session, account.id, idempotency_key, type_, details)
        if found is not None:
            return session.get_one(DataRequest, found), False
    req = _new(session, account.id, type_, details, "session")
    req.idempotency_key = idempotency_key
    session.flush()
    _verified(session, req, "password check in a signed-in session")
    return req, True


def replayed(session: Session, account_id: uuid.UUID, key: str | None, type_: str,
             details: str | None) -> uuid.UUID | None:
    """The request ``key`` already made for this account, if any. A key reused for a
    different request (another type or details) is refused (422): answering with the first
    request would tell the client its second one was made."""
    if not key:
        return None
    found = session.execute(select(DataRequest.id, DataRequest.type, DataRequest.details)
                            .where(DataRequest.account_id == account_id,
                                   DataRequest.idempotency_key == key)).first()
    if found is None:
        return None
    if found.type != type_ or (found.details or None) != (details or None):
        # 409 as at the check-in: one slug, one status (entryfy/problem_types.py).
        raise Conflict("This Idempotency-Key was already used for a different request; "
                       "use a new key for a new request.", slug="idempotency-key-reused")
    return found.id


def submit_from_outside(session: Session, email: str, type_: str, details: str | None
                        ) -> VerificationCode:
    """A request by e-mail address alone: a one-time code goes to that account's mailbox.

    An unknown address gets a verification row too (no request, no mail), so the answer and
    the later verification behave the same: nobody learns whether an address has an account.
    """
    _check_type(type_)
    # The same lookup as sign-in (one account per address, whatever its case); written here
    # so privacy/ does not import the operations layer above it. In the system scope: no
    # person's scope exists yet (accounts are behind the database wall since revision 0017).
    with system_scope(session, "a privacy request finds the address's account"):
        account = session.scalar(select(Account).where(
            func.lower(Account.email) == email.strip().lower()))
    now = clock.now()
    code = f"{secrets.randbelow(10**6):06d}"
    ver = VerificationCode(id=uuid.uuid4(), attempts=0, expires_at=now + CODE_LIFETIME,
                           code_hash="")
    if account is not None and account.is_active:
        req = _new(session, account.id, type_, details, "email")
        ver.request_id = req.id
    ver.code_hash = _code_hash(ver.id, code)
    session.add(ver)
    session.flush()
    if ver.request_id is not None and account is not None:
        mail.send(account.email, "Your Entryfy privacy request: confirmation code",
                  f"Someone - hopefully you - asked Entryfy for {_type_label(type_)} about the "
                  f"data of this account.\n\nYour confirmation code: {code}\n\nIt works "
                  f"{int(CODE_LIFETIME.total_seconds() // 60)} minutes, for "
                  f"{CODE_MAX_ATTEMPTS} tries. If it was not you, ignore this message; nothing "
                  "happens without the code.")
    return ver


def _code_hash(verification_id: uuid.UUID, code: str) -> str:
    return security.keys().keyed_hash("request-code", f"{verification_id}:{code}")


def check_code(session: Session, verification_id: uuid.UUID, code: str
               ) -> tuple[DataRequest | None, EntryfyError | None]:
    """Check a one-time code: limited tries, short life, single use.

    Returns the error instead of raising it: the caller commits first, so a wrong try counts
    even though the answer is an error (a rolled-back counter would allow endless guessing).
    """
    ver = session.scalar(select(VerificationCode).where(VerificationCode.id == verification_id)
                         .with_for_update())
    now = clock.now()
    if ver is None:
        return None, NotFound("No such verification.", slug="verification-not-found")
    if ver.used_at is not None:
        return None, Conflict("This code has been used.", slug="code-used")
    if ver.expires_at <= now:
        return None, Unprocessable("The code has expired; make the request again.",
                                   slug="code-expired")
    if ver.attempts >= CODE_MAX_ATTEMPTS:
        return None, Unprocessable("Too many wrong codes; make the request again.",
                                   slug="code-attempts-exhausted")
    ver.attempts += 1
    session.flush()
    if not hmac.compare_digest(ver.code_hash, _code_hash(ver.id, code.strip())) \
            or ver.request_id is None:
        left = CODE_MAX_ATTEMPTS - ver.attempts
        return None, Unprocessable(f"Wrong code. {left} tries left.", slug="code-wrong",
                                   tries_left=left)
    ver.used_at = now
    req = session.get(DataRequest, ver.request_id)
    if req is None:  # pragma: no cover - cascade
        return None, NotFound("No such request.")
    _verified(session, req, "one-time code sent to the account's e-mail address")
    return req, None


def _verified(session: Session, req: DataRequest, how: str) -> None:
    req.status = "verified"
    req.verified_at = clock.now()
    _event(session, req, "verified", role="subject", note=how)
    _notify(req, "We have received your privacy request",
            f"We have received your request for {_type_label(req.type)} (reference "
            f"{req.id}). We answer by {req.due_at:%Y-%m-%d} at the latest.", session)
    route(session, req)


# ------------------------------------------------------------------ routing

def route(session: Session, req: DataRequest) -> None:
    """Parts for every customer whose data about the person the request concerns."""
    now = clock.now()
    parts: list[DataRequestPart] = []
    if req.type == "objection" and req.account_id is not None:
        # Objection to direct marketing is absolute (Art. 21(3)): it stops at once, whatever
        # the customers decide about their own processing.
        note = _withdraw_marketing(session, req.account_id)
        _event(session, req, "marketing_stopped", role="system", note=note)
    if req.type in ROUTED_TYPES and req.account_id is not None:
        with system_scope(session, "data-subject request: route to the customers concerned"):
            email = session.scalar(select(Account.email).where(Account.id == req.account_id))
            from models import Customer

            concerned = subjects.customers_concerned(session, req.account_id, email)
            ended = set(session.scalars(select(Customer.id).where(
                Customer.id.in_(sorted(concerned)), Customer.status == "ended")))
            for cid in sorted(concerned - ended):
                part = DataRequestPart(id=uuid.uuid4(), request_id=req.id, customer_id=cid,
                                       account_id=req.account_id, status="pending",
                                       due_at=part_due_date(req, now))
                session.add(part)
                parts.append(part)
            session.flush()
            for part in parts:
                _event(session, req, "routed_to_customer", role="system", part=part)
                _notify_admins(session, part, req)
            # A customer whose contract ended keeps only what a legal hold requires and has
            # nobody left to decide: the vendor, still its processor for those rows, acts.
            for cid in sorted(ended):
                note = ("erased by the vendor with the rest of the request"
                        if req.type == "erasure" else
                        _carry_out(session, req, cid) if req.type != "rectification" else
                        "the customer's contract has ended; its records kept under legal hold "
                        "cannot be changed")
                _event(session, req, "handled_for_ended_customer", role="vendor", note=note)
    if parts:
        req.status = "waiting_for_customer"
        _event(session, req, "waiting_for_customer", role="system")
        session.flush()
    else:
        req.status = "in_progress"
        _event(session, req, "in_progress", role="system")
        session.flush()
        _finish(session, req)


def _notify_admins(session: Session, part: DataRequestPart, req: DataRequest) -> None:
    with system_scope(session, "mail the customer's admins about a request part"):
        admins = list(session.scalars(admin_addresses(part.customer_id, clock.now())))
    if not admins:
        # The due-date reminder (entryfy.jobs) tries again, and says so, until an admin is
        # current; here the log keeps the gap visible (ids only).
        log.warning("request part %s awaits customer=%s, which has no current admin to tell",
                    part.id, part.customer_id)
    for email in admins:
        mail.send(email, "A privacy request awaits your decision",
                  f"A data-subject request ({_type_label(req.type)}) concerns your company's "
                  f"data. Please decide by {part.due_at:%Y-%m-%d}: "
                  f"/api/v1/customers/{part.customer_id}/requests")


# ------------------------------------------------------------------ customer decisions

def decide(session: Session, part: DataRequestPart, *, decision: str, reason: str | None,
           actor_id: uuid.UUID | None) -> DataRequestPart:
    """A customer admin approves (and the action is carried out) or denies with a reason."""
    if decision not in ("approve", "deny"):
        raise ValidationFailed({"decision": ["approve or deny"]})
    if decision == "deny" and not (reason and reason.strip()):
        raise ValidationFailed({"reason": ["A denial states its reason."]})
    # Decisions on one request are serialised: the last one sees every other and finishes it.
    req = session.get(DataRequest, part.request_id, with_for_update=True,
                      populate_existing=True)
    session.refresh(part)
    if part.status != "pending":
        raise Conflict("This part has been decided.", slug="already-decided")
    if req is None or req.status != "waiting_for_customer":
        raise Conflict("The request is not waiting for a decision.", slug="not-waiting")
    now = clock.now()
    part.decided_at = now
    part.reason = reason.strip() if reason else None
    if decision == "deny":
        part.status = "denied"
        part.outcome = "denied by the customer"
    else:
        part.status = "approved"
        _event(session, req, "customer_approved", role="customer_admin", part=part)
        if req.type == "erasure":
            # Carried out after this commits, in steps of its own (privacy.erasure_flow):
            # the part is completed only once its residue check finds nothing.
            part.outcome = "approved: the erasure is under way"
        else:
            part.outcome = _carry_out_part(session, req, part)
            part.status = "completed"
    audit.record(session, action=f"data_request.{decision}", customer_id=part.customer_id,
                 actor_id=actor_id, actor_role="admin", object_type="data_request_part",
                 object_id=part.id, subject_id=part.account_id)
    if part.status != "approved":
        _event(session, req, "customer_" + ("denied" if decision == "deny" else "completed"),
               role="customer_admin", part=part, note=part.outcome)
    session.flush()
    _advance(session, req)
    return part


def _carry_out_part(session: Session, req: DataRequest, part: DataRequestPart) -> str:
    return _carry_out(session, req, part.customer_id)


def _carry_out(session: Session, req: DataRequest, customer_id: uuid.UUID) -> str:
    if req.account_id is None:
        return "nothing left to do"
    if req.type in ("restriction", "objection"):
        n = restrict(session, req.account_id, customer_id)
        return f"{n} records restricted to storage and legal claims"
    return "the customer has rectified the data"


def restrict(session: Session, account_id: uuid.UUID, customer_id: uuid.UUID | None) -> int:
    """Mark the person's rows restricted (storage and legal claims only) where a table can."""
    from sqlalchemy import update

    n = 0
    with system_scope(session, "restriction of processing for one person"):
        for tl in subjects.person_tables():
            if "restricted" not in tl.table.c or not (tl.own or tl.emails):
                continue
            stmt = update(tl.table).where(tl.own_criteria(account_id, None))
            if customer_id is not None and "customer_id" in tl.table.c:
                stmt = stmt.where(tl.table.c.customer_id == customer_id)
            n += rows_written(session.execute(stmt.values(restricted=True)))
    return n


def _advance(session: Session, req: DataRequest) -> None:
    with system_scope(session, "a request's parts in every customer"):
        parts = list(session.scalars(select(DataRequestPart)
                                     .where(DataRequestPart.request_id == req.id)))
    if any(p.status == "pending" for p in parts):
        return
    if req.status == "in_progress":
        return  # an erasure already waiting for privacy.erasure_flow
    req.status = "in_progress"
    _event(session, req, "in_progress", role="system")
    _finish(session, req, parts)


def _finish(session: Session, req: DataRequest, parts: list[DataRequestPart] | None = None
            ) -> None:
    """The vendor's own part, then the answer to the person."""
    parts = parts or []
    if req.type == "erasure":
        # Freeze, journal, erase, residue check: privacy.erasure_flow, after this commits.
        _event(session, req, "erasure_pending", role="system")
        session.flush()
        return
    denied = [p for p in parts if p.status == "denied"]
    notes: list[str] = []
    status = "completed"
    if req.type in ("access", "portability"):
        notes.append("Your register extract (JSON, or a zip with CSV files) is ready at "
                     "GET /api/v1/me/export whenever you are signed in.")
    elif req.type == "objection":
        notes.append("Direct marketing to you stopped when your objection arrived.")
    elif req.type == "restriction":
        notes.append("Your account data are needed to run your account; customers' records "
                     "were restricted where they agreed.")
    elif req.type == "rectification":
        notes.append("You can correct your own account data at PATCH /api/v1/me; customers "
                     "corrected their records where they agreed.")
    for p in parts:
        if p.status == "denied":
            notes.append(f"Customer {p.customer_id} denied: {p.reason}")
        elif p.outcome:
            notes.append(f"Customer {p.customer_id}: {p.outcome}")
    if parts and len(denied) == len(parts) and req.type != "erasure":
        status = "denied"
    req.outcome = " ".join(n for n in notes if n)
    req.status = status
    req.closed_at = clock.now()
    _event(session, req, status, role="system")
    session.flush()
    # Tell the person before the platform erasure removes their address.
    _notify(req, "Your privacy request has been answered",
            f"Your request for {_type_label(req.type)} (reference {req.id}) is {status}.\n\n"
            + req.outcome, session)


def part_erased(session: Session, req: DataRequest, part: DataRequestPart, summary: str, *,
                complete: bool) -> None:
    """privacy.erasure_flow reports a customer's part: completed only without residue."""
    part.outcome = summary
    if complete:
        part.status = "completed"
        _event(session, req, "customer_completed", role="system", part=part, note=summary)
    else:
        _event(session, req, "erasure_incomplete", role="system", part=part, note=summary)
    session.flush()


def ended_customers_concerned(session: Session, req: DataRequest) -> list[uuid.UUID]:
    """Customers whose contract ended and that still hold rows about the person: nobody is
    left there to decide, so the vendor, still their processor, erases with the rest."""
    from models import Customer

    if req.account_id is None:
        return []
    with system_scope(session, "erasure: customers whose contract ended"):
        email = session.scalar(select(Account.email).where(Account.id == req.account_id))
        concerned = subjects.customers_concerned(session, req.account_id, email)
        return sorted(session.scalars(select(Customer.id).where(
            Customer.id.in_(sorted(concerned)), Customer.status == "ended")))


def erasure_starting(session: Session, req: DataRequest, answer: Sequence[str] = ()) -> None:
    """Before the platform part: tell the person (their address is erased next), with each
    customer's answer (``parts_answer``: a denial's reason is erased next), and close their
    other open requests."""
    told = "".join(f"\n{line}" for line in answer)
    _notify(req, "Your privacy request has been answered",
            f"Your request for erasure (reference {req.id}) is being carried out now: your "
            "account and data are erased. Records a law requires us to keep are kept, "
            "restricted, until that period ends; the answer lists each with its rule."
            + (f"\n\nThe companies' answers:{told}" if told else ""),
            session)
    _close_superseded(session, req)


# A denial always states its reason (``decide``); the platform part of an erasure erases it
# with the person's other request records. A run that resumes after that part stopped
# unfinished can no longer quote it: the person had it in the message that began the erasure.
REASON_ERASED = "the reason was in our message when your erasure began"


def parts_answer(session: Session, req: DataRequest) -> list[str]:
    """Each customer's part of the answer to an erasure request, in the order the parts were
    made. Read before the platform part of the erasure (and sent with ``erasure_starting``):
    that part erases the request records' free text too, a denial's reason among it."""
    with system_scope(session, "erasure: the request's parts"):
        parts = list(session.scalars(select(DataRequestPart).where(
            DataRequestPart.request_id == req.id).order_by(DataRequestPart.created_at)))
    return [f"Customer {p.customer_id} denied: {p.reason or REASON_ERASED}"
            if p.status == "denied" else f"Customer {p.customer_id}: {p.outcome}"
            for p in parts if p.outcome]


def erasure_finished(session: Session, req: DataRequest, notes: list[str], *,
                     complete: bool) -> None:
    """The erasure request's answer: ``notes`` from ``parts_answer`` and the vendor's own."""
    req.outcome = " ".join(notes)
    if complete:
        req.status = "completed"
        req.closed_at = clock.now()
        _event(session, req, "completed", role="system")
    else:
        _event(session, req, "erasure_incomplete", role="system", note="residue left")
    session.flush()


def _close_superseded(session: Session, req: DataRequest) -> None:
    """Other open requests of the person end with their erasure: nobody is left to answer."""
    others = list(session.scalars(select(DataRequest).where(
        DataRequest.account_id == req.account_id, DataRequest.id != req.id,
        DataRequest.status.in_(OPEN))))
    with system_scope(session, "close requests superseded by an erasure"):
        for other in others:
            for part in session.scalars(select(DataRequestPart).where(
                    DataRequestPart.request_id == other.id,
                    DataRequestPart.status == "pending")):
                part.status = "completed"
                part.outcome = "closed: the person's data were erased"
            other.status = "completed"
            other.outcome = f"Closed: superseded by the erasure request {req.id}."
            other.closed_at = clock.now()
            _event(session, other, "completed", role="system", note="superseded by erasure")
        session.flush()


def _withdraw_marketing(session: Session, account_id: uuid.UUID | None) -> str:
    """Objection (Art. 21): every consent-based processing (newsletter, offers, analytics) is
    withdrawn at once; direct marketing stops without any balancing (Art. 21(3))."""
    if account_id is None:
        return ""
    from privacy import consent

    withdrawn = [p.key for p in consent.consent_purposes()
                 if consent.has_consent(session, account_id, p.key)]
    if withdrawn:
        consent.decide(session, account_id,
                       [consent.Choice(purpose=k, granted=False) for k in withdrawn], "api")
        return ("Your objection is honoured: your consent to " + ", ".join(withdrawn)
                + " is withdrawn and nothing is sent to you for marketing.")
    return "Your objection is recorded: nothing is sent to you for marketing."


# ------------------------------------------------------------------ vendor actions

def extend(session: Session, req: DataRequest, *, months: int, reason: str) -> DataRequest:
    """One extension of up to two more months (Art. 12(3)), the reason told to the person."""
    if req.status not in OPEN:
        raise Conflict("The request is closed.", slug="request-closed")
    if req.extended_months:
        raise Unprocessable("A request can be extended once.", slug="already-extended")
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise ValidationFailed({"months": [f"1 to {MAX_EXTENSION_MONTHS}."]})
    if not reason or not reason.strip():
        raise ValidationFailed({"reason": ["State the reason; the person is told."]})
    req.extended_months = months
    req.extension_reason = reason.strip()
    req.due_at = due_date(req.received_at, months)
    with system_scope(session, "extend a request's parts"):
        for part in session.scalars(select(DataRequestPart).where(
                DataRequestPart.request_id == req.id, DataRequestPart.status == "pending")):
            part.due_at = part_due_date(req, clock.now())
        session.flush()  # inside the scope: row-level security sees these rows only here
    _event(session, req, "extended", role="vendor", note=f"by {months} month(s)")
    session.flush()
    _notify(req, "Your privacy request takes longer",
            f"We need more time for your request (reference {req.id}): {req.extension_reason}"
            f"\n\nWe will answer by {req.due_at:%Y-%m-%d}.", session)
    return req


def deny(session: Session, req: DataRequest, *, reason: str) -> DataRequest:
    """The vendor refuses a request (e.g. manifestly unfounded, Art. 12(5)), with its reason."""
    if req.status not in OPEN:
        raise Conflict("The request is closed.", slug="request-closed")
    if not reason or not reason.strip():
        raise ValidationFailed({"reason": ["A denial states its reason."]})
    req.status = "denied"
    req.outcome = reason.strip()
    req.closed_at = clock.now()
    with system_scope(session, "close the parts of a denied request"):
        for part in session.scalars(select(DataRequestPart).where(
                DataRequestPart.request_id == req.id, DataRequestPart.status == "pending")):
            part.status = "denied"
            part.outcome = "closed: the request was denied"
        session.flush()
    _event(session, req, "denied", role="vendor")
    session.flush()
    _notify(req, "Your privacy request has been denied",
            f"Your request (reference {req.id}) is denied: {req.outcome}\n\nYou may complain "
            "to Integritetsskyddsmyndigheten (IMY) or go to court.", session)
    return req


# ------------------------------------------------------------------ reading

def for_account(session: Session, account_id: uuid.UUID) -> list[dict[str, Any]]:
    reqs = list(session.scalars(select(DataRequest).where(DataRequest.account_id == account_id)
                                .order_by(DataRequest.received_at.desc())))
    return [describe(session, r) for r in reqs]


def describe(session: Session, req: DataRequest) -> dict[str, Any]:
    with system_scope(session, "a person's own request: its parts and history"):
        parts = list(session.scalars(select(DataRequestPart)
                                     .where(DataRequestPart.request_id == req.id)
                                     .order_by(DataRequestPart.created_at)))
        events = list(session.scalars(select(DataRequestEvent)
                                      .where(DataRequestEvent.request_id == req.id)
                                      .order_by(DataRequestEvent.seq)))
        from models import Customer

        names = {c.id: c.name for c in session.scalars(
            select(Customer).where(Customer.id.in_([p.customer_id for p in parts])))}
    return {
        "id": req.id, "type": req.type, "status": req.status, "details": req.details,
        "received_at": req.received_at, "due_at": req.due_at,
        "extended_months": req.extended_months, "extension_reason": req.extension_reason,
        "closed_at": req.closed_at, "outcome": req.outcome,
        "parts": [{"id": p.id, "customer_id": p.customer_id,
                   "customer_name": names.get(p.customer_id), "status": p.status,
                   "due_at": p.due_at, "decided_at": p.decided_at, "reason": p.reason,
                   "outcome": p.outcome} for p in parts],
        "history": [{"at": e.occurred_at, "action": e.action, "status": e.status,
                     "role": e.actor_role, "customer_id": e.customer_id, "note": e.note}
                    for e in events],
    }
