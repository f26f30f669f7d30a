"""Account operations: plain functions over a session. They flush, never commit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from entryfy import clock, mail, security
from entryfy.db import end_read_transaction, rows_written
from entryfy.errors import Conflict, Unauthorized, ValidationFailed
from entryfy.ops import mailbox, password_policy
from models import AccessToken, Account, Device, tenancy
from models.hot import HotStatement
from privacy import audit

MIN_PASSWORD_LENGTH = password_policy.MIN_LENGTH
MAX_PASSWORD_LENGTH = password_policy.MAX_LENGTH
# One answer for every failed sign-in: unknown address, wrong password, wrong second factor.
WRONG_CREDENTIALS = "Wrong email, password or code."


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_rules(password: str, *, email: str, names: tuple[str, ...] = (),
                         field: str = "password") -> None:
    """The password policy (entryfy.ops.password_policy); ValidationFailed with the reasons."""
    password_policy.check(password, email=email, names=names, field=field)


def find_by_email(session: Session, email: str) -> Account | None:
    """The account of an address, whatever the session's scope: the callers (sign-in,
    registration, invitations, staff) must find a person before any scope names them
    (accounts are behind the database wall since revision 0017)."""
    with tenancy.system_scope(session, "an account found by its e-mail address"):
        return session.scalar(
            select(Account).where(func.lower(Account.email) == normalise_email(email))
        )


def enter(session: Session, account: Account) -> None:
    """The session now acts for ``account`` (its password or code was just proven, or a
    token is issued to it): the person's own rows become visible and writable."""
    ctx = tenancy.get_context(session)
    if not ctx.system and ctx.account_id != account.id:
        tenancy.set_context(session, dataclasses.replace(ctx, account_id=account.id))


def register(session: Session, *, email: str, password: str, first_name: str,
             last_name: str, phone: str | None = None, verified: bool = True) -> Account:
    """An account made by a trusted caller (tests, the demo, benchmarks), its address taken
    as proven unless ``verified`` is False. People register through
    ``request_registration``, which proves the address and applies the password policy."""
    email = normalise_email(email)
    if find_by_email(session, email) is not None:
        raise Conflict("An account with this email exists.", slug="email-taken")
    end_read_transaction(session)  # no lock held while hashing
    account = Account(
        email=email,
        password_hash=security.passwords().hash(password),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        phone=phone,
        email_verified_at=clock.now() if verified else None,
    )
    with tenancy.system_scope(session, "a trusted caller creates an account"):
        session.add(account)
        session.flush()
    return account


def request_registration(session: Session, *, email: str, password: str, first_name: str,
                         last_name: str, phone: str | None = None) -> None:
    """Registration by the person: the same outcome for every address, known or not.

    The password policy is judged on the body alone (so its answer says nothing about the
    address). A new address gets an unverified account and a code; an address whose account
    is not proven yet gets the new details and a new code (whoever proves the mailbox
    decides, and the latest registration wins); an address with a proven account gets a
    notice instead, and nothing changes."""
    email = normalise_email(email)
    check_password_rules(password, email=email, names=(first_name, last_name))
    # Hashed on every path: the answer takes the same time whatever the address.
    password_hash = security.passwords().hash(password)
    # No person's scope exists yet: the address's account is found and made in the system
    # scope (accounts are behind the database wall since revision 0017).
    with tenancy.system_scope(session, "registration finds or makes the address's account"):
        account = find_by_email(session, email)
        if account is not None and (account.email_verified_at is not None or account.is_staff
                                    or not account.is_active):
            mail.send(email, "Someone tried to register with your e-mail address",
                      "Someone - perhaps you - tried to register a new Entryfy account with this "
                      "address, which already has one. Nothing was changed. If it was you, sign "
                      "in with your password instead. If it was not you, ignore this message.")
            return
        if account is None:
            account = Account(email=email, email_verified_at=None)
            try:
                with session.begin_nested():
                    session.add(account)
                    _set_details(account, password_hash, first_name, last_name, phone)
                    session.flush()
            except IntegrityError:
                return  # the same address registered at the same moment: one of them wins
        else:
            _set_details(account, password_hash, first_name, last_name, phone)
            account.updated_at = clock.now()
            # Whatever was signed in with the earlier details ends (nothing could, unproven).
            revoke_all(session, account)
        mailbox.send_code(session, account, email, "register")


def _set_details(account: Account, password_hash: str, first_name: str, last_name: str,
                 phone: str | None) -> None:
    account.password_hash = password_hash
    account.first_name = first_name.strip()
    account.last_name = last_name.strip()
    account.phone = phone


def _sign_in_failed(session: Session, account: Account | None) -> Unauthorized:
    """Audit the failure (known accounts: the event names its subject) and say no."""
    if account is not None:
        audit.record(session, action="account.sign_in_failed", customer_id=None,
                     actor_role="anonymous", object_type="account", object_id=account.id,
                     subject_id=account.id)
    return Unauthorized(WRONG_CREDENTIALS, slug="invalid-credentials")


def authenticate(session: Session, email: str, password: str,
                 otp: str | None = None) -> Account:
    """Check a sign-in. Unknown email, wrong password and (accounts with a second factor)
    a wrong code all fail alike and take the same time; the password and the second factor
    are judged together, so the answer never says which was right. Without ``otp``, an
    account that needs one answers ``otp-required`` whether or not the password was right.
    An account whose address is not proven answers ``email-unverified``, only after the
    right password. The caller keeps the failure's audit event (web.keep_refusal)."""
    from entryfy.ops import staff

    pw = security.passwords()
    account = find_by_email(session, email)
    # Hashing is the slow step of a sign-in: hold no lock through it (SQLite's one write lock).
    end_read_transaction(session)
    if account is None or not account.is_active or account.password_hash is None:
        pw.burn(password)
        raise _sign_in_failed(session, None)
    right = pw.verify(account.password_hash, password)
    if right:
        # The second factor is spent on the person's own row (a claimed TOTP step).
        enter(session, account)
    if staff.requires_second_factor(account):
        if otp is None or not otp.strip():
            if not right:
                _sign_in_failed(session, account)
            raise Unauthorized("A second factor is required for this account: send otp "
                               "with the password.", slug="otp-required")
        # The code is tried only with the right password: a wrong one must not use it up.
        if not right or not staff.second_factor_ok(session, account, otp):
            raise _sign_in_failed(session, account)
    elif not right:
        raise _sign_in_failed(session, account)
    if account.email_verified_at is None:
        raise Unauthorized("Confirm your e-mail address first: enter the code we sent to it "
                           "(POST /api/v1/auth/verify-email).", slug="email-unverified")
    enter(session, account)
    if pw.needs_rehash(account.password_hash):
        account.password_hash = pw.hash(password)
    account.last_login_at = clock.now()
    session.flush()
    return account


@dataclasses.dataclass
class IssuedToken:
    token: AccessToken
    secret: str


def _issue(session: Session, account: Account, kind: str, lifetime: dt.timedelta,
           device: Device | None = None, ip: str | None = None) -> IssuedToken:
    enter(session, account)  # a token issued is a sign-in: the person's rows, not another's
    secret = security.new_token()
    row = AccessToken(
        account_id=account.id,
        kind=kind,
        token_hash=security.sha256_hex(secret),
        device_id=device.id if device else None,
        expires_at=clock.now() + lifetime,
        ip_prefix=security.truncate_ip(ip),
    )
    session.add(row)
    session.flush()
    return IssuedToken(row, secret)


def start_session(session: Session, account: Account, *, lifetime: dt.timedelta,
                  ip: str | None = None) -> IssuedToken:
    return _issue(session, account, "session", lifetime, ip=ip)


def register_device(session: Session, account: Account, *, device_id: str,
                    name: str | None = None, platform: str | None = None) -> tuple[Device, bool]:
    """Find or create the account's device by the keyed hash of its id. Returns (device, new)."""
    digest = security.keys().keyed_hash("device-id", device_id)
    device = session.scalar(
        select(Device).where(Device.account_id == account.id, Device.device_hash == digest)
    )
    created = device is None
    if device is None:
        device = Device(account_id=account.id, device_hash=digest)
        session.add(device)
    if name is not None:
        device.name = name
    if platform is not None:
        device.platform = platform
    device.last_seen_at = clock.now()
    session.flush()
    return device, created


def issue_device_token(session: Session, account: Account, device: Device, *,
                       lifetime: dt.timedelta, ip: str | None = None) -> IssuedToken:
    return _issue(session, account, "device", lifetime, device=device, ip=ip)


@dataclasses.dataclass(frozen=True)
class SignedIn:
    """Who a live session or device token belongs to: what every request needs, without the
    Account and AccessToken objects (views that want the account load it by id)."""

    account_id: uuid.UUID
    token_id: uuid.UUID


_TOKENS = AccessToken.__table__.c
_ACCOUNTS = Account.__table__.c


# Known kind, not revoked, not expired, account active: the person's context is set only for
# a live sign-in.
_LIVE = and_(_TOKENS.kind == bindparam("kind"), _TOKENS.revoked_at.is_(None),
             _TOKENS.expires_at > bindparam("now"), _ACCOUNTS.is_active)


# The hot path of every authenticated request: one Core statement (no ORM objects) finds the
# token and its account and, on PostgreSQL, switches the transaction to that person's
# row-level-security context in the same round trip (models.tenancy.sign_in_statement).
_SIGN_IN = {
    dialect: HotStatement(tenancy.sign_in_statement(
        dialect,
        select(_TOKENS.id, _TOKENS.account_id, _TOKENS.last_used_at, _LIVE.label("live"))
        .select_from(AccessToken.__table__.join(Account.__table__,
                                                _ACCOUNTS.id == _TOKENS.account_id))
        .where(_TOKENS.token_hash == bindparam("token_hash")),
        token_hash=bindparam("token_hash"), kind=bindparam("kind"), at=bindparam("now")))
    for dialect in ("postgresql", "sqlite")
}
_TOUCH = (
    update(AccessToken.__table__)
    .where(_TOKENS.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now"))
)


def sign_in_with_token(session: Session, secret: str, kind: str) -> SignedIn | None:
    """The live sign-in (``kind`` 'session' or 'device', not revoked, not expired, account
    active) for ``secret``, with the session switched to that person's tenant context; None
    for anything else, and the context stays NOBODY."""
    conn = session.connection()
    now = clock.now()
    row = _SIGN_IN[conn.dialect.name].first(
        conn, {"token_hash": security.sha256_hex(secret), "kind": kind, "now": now}
    )
    if row is None or not row.live:
        return None
    # The database already holds the context (the statement set it); record it for the ORM.
    tenancy.adopt_context(session, tenancy.TenantContext(account_id=row.account_id))
    # Touch at most once a minute: a write on every request would serialise a busy phone.
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        conn.execute(_TOUCH, {"token_id": row.id, "now": now})
    return SignedIn(row.account_id, row.id)


def frozen(session: Session, secret: str) -> bool:
    """Whether ``secret`` is a token of a deactivated account (an erasure froze it): only on
    the refusal path, so a frozen person is told why instead of a bare 401."""
    with tenancy.system_scope(session, "a refused token: is its account frozen?"):
        return bool(session.scalar(
            select(func.count()).select_from(AccessToken)
            .join(Account, Account.id == AccessToken.account_id)
            .where(AccessToken.token_hash == security.sha256_hex(secret),
                   Account.is_active.is_(False))))


def end_sign_in(session: Session, token_id: uuid.UUID) -> None:
    """Revoke the session or token ``token_id`` (logout); a second logout changes nothing."""
    session.execute(
        update(AccessToken)
        .where(AccessToken.id == token_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


def revoke_token(session: Session, account: Account, token_id: uuid.UUID) -> AccessToken | None:
    row = session.scalar(
        select(AccessToken).where(AccessToken.id == token_id, AccessToken.account_id == account.id)
    )
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = clock.now()
    session.flush()
    return row


def revoke_all(session: Session, account: Account, *, except_id: uuid.UUID | None = None) -> int:
    stmt = (
        update(AccessToken)
        .where(AccessToken.account_id == account.id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if except_id is not None:
        stmt = stmt.where(AccessToken.id != except_id)
    return rows_written(session.execute(stmt))


def wrong_current_password(field: str = "current_password") -> ValidationFailed:
    """The one answer to a wrong current password (api.throttle counts it by its slug)."""
    err = ValidationFailed({field: ["The current password is wrong."]},
                           detail="The current password is wrong.")
    err.slug = "current-password-wrong"
    return err


def check_current_password(account: Account, password: str | None,
                           field: str = "current_password") -> None:
    if password is None:
        raise ValidationFailed({field: ["Give your current password to make this change."]})
    if not security.passwords().verify(account.password_hash, password):
        raise wrong_current_password(field)


def change_password(session: Session, account: Account, *, current: str, new: str,
                    keep_token_id: uuid.UUID | None) -> None:
    end_read_transaction(session)  # no lock held while hashing
    check_current_password(account, current)
    check_password_rules(new, email=account.email, names=(account.first_name, account.last_name),
                         field="new_password")
    account.password_hash = security.passwords().hash(new)
    account.updated_at = clock.now()
    # Every other session and token ends; the one making the change stays signed in.
    revoke_all(session, account, except_id=keep_token_id)
    session.flush()
    audit.record(session, action="account.password_changed", customer_id=None,
                 actor_id=account.id, actor_role="self", object_type="account",
                 object_id=account.id, subject_id=account.id)
    mail.send(account.email, "Your Entryfy password was changed",
              "The password of your Entryfy account was changed just now, and every other "
              "sign-in was ended. If you did not do this, contact the vendor's support at once.")


def request_email_change(session: Session, account: Account, *, email: str,
                         current_password: str | None) -> None:
    """A new address for the account, after the current password: a code goes to the new
    address and the change takes effect when it is entered (mailbox.verify); the old address
    is told. An address that belongs to another account gets a notice instead of a code,
    and the answer is the same."""
    end_read_transaction(session)  # no lock held while hashing
    check_current_password(account, current_password)
    email = normalise_email(email)
    if email == normalise_email(account.email):
        return
    if find_by_email(session, email) is not None:
        mail.send(email, "Someone tried to move an Entryfy account to your address",
                  "Someone asked to move their Entryfy account to this e-mail address, which "
                  "already has an account. Nothing was changed. If it was not you, ignore "
                  "this message.")
    else:
        mailbox.send_code(session, account, email, "change")
    mail.send(account.email, "A change of your Entryfy e-mail address was asked for",
              "Someone signed in to your Entryfy account with its password asked to change "
              "its e-mail address. The change happens only when the code sent to the new "
              "address is entered. If it was not you, change your password at once.")
    audit.record(session, action="account.email_change_requested", customer_id=None,
                 actor_id=account.id, actor_role="self", object_type="account",
                 object_id=account.id, subject_id=account.id)


EDITABLE_FIELDS = ("first_name", "last_name", "phone")


def update_profile(session: Session, account: Account, changes: dict[str, object]) -> Account:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed({k: ["Unknown field."] for k in unknown})
    for key, value in changes.items():
        setattr(account, key, value.strip() if isinstance(value, str) else value)
    account.updated_at = clock.now()
    session.flush()
    return account
