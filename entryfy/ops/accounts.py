"""Account operations: plain functions over a session. They flush, never commit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from entryfy import clock, security
from entryfy.errors import Conflict, Unauthorized, ValidationFailed
from models import AccessToken, Account, Device, Membership, tenancy
from models.hot import HotStatement
from models.tenancy import system_scope

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_rules(password: str, *, email: str, names: tuple[str, ...] = ()) -> None:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    lowered = password.lower()
    local = normalise_email(email).split("@")[0]
    if lowered == normalise_email(email) or (len(local) >= 4 and local in lowered):
        problems.append("The password must not contain your email address.")
    if any(n and len(n) >= 4 and n.lower() in lowered for n in names):
        problems.append("The password must not contain your name.")
    if len(set(password)) < 4:
        problems.append("The password is too repetitive.")
    if problems:
        raise ValidationFailed({"password": problems})


def find_by_email(session: Session, email: str) -> Account | None:
    return session.scalar(
        select(Account).where(func.lower(Account.email) == normalise_email(email))
    )


def register(session: Session, *, email: str, password: str, first_name: str,
             last_name: str, phone: str | None = None) -> Account:
    email = normalise_email(email)
    check_password_rules(password, email=email, names=(first_name, last_name))
    if find_by_email(session, email) is not None:
        # Registration must say so; the address is the person's own to claim.
        raise Conflict("An account with this email exists.", slug="email-taken")
    account = Account(
        email=email,
        password_hash=security.passwords().hash(password),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        phone=phone,
    )
    session.add(account)
    session.flush()
    bind_invitations(session, account)
    return account


def bind_invitations(session: Session, account: Account) -> int:
    """Pending invitations to this email become memberships of the new account."""
    with system_scope(session, "bind pending invitations at registration"):
        result = session.execute(
            update(Membership)
            .where(
                Membership.account_id.is_(None),
                func.lower(Membership.invited_email) == normalise_email(account.email),
            )
            .values(account_id=account.id, invited_email=None)
            .execution_options(synchronize_session=False)
        )
    return result.rowcount or 0


def authenticate(session: Session, email: str, password: str) -> Account:
    """Check a password. Unknown email and wrong password fail alike and take the same time."""
    pw = security.passwords()
    account = find_by_email(session, email)
    if account is None or not account.is_active or account.password_hash is None:
        pw.burn(password)
        raise Unauthorized("Wrong email or password.", slug="invalid-credentials")
    if not pw.verify(account.password_hash, password):
        raise Unauthorized("Wrong email or password.", slug="invalid-credentials")
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
# row-level-security context in the same round trip (models.tenancy.context_columns).
_SIGN_IN = {
    dialect: HotStatement(select(
        _TOKENS.id, _TOKENS.account_id, _TOKENS.last_used_at, _LIVE.label("live"),
        *tenancy.context_columns(dialect, account_id=_TOKENS.account_id, when=_LIVE),
    )
    .select_from(AccessToken.__table__.join(Account.__table__,
                                            _ACCOUNTS.id == _TOKENS.account_id))
    .where(_TOKENS.token_hash == bindparam("token_hash")))
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
    return session.execute(stmt).rowcount or 0


def change_password(session: Session, account: Account, *, current: str, new: str,
                    keep_token_id: uuid.UUID | None) -> None:
    pw = security.passwords()
    if not pw.verify(account.password_hash, current):
        raise ValidationFailed({"current_password": ["The current password is wrong."]})
    check_password_rules(new, email=account.email, names=(account.first_name, account.last_name))
    account.password_hash = pw.hash(new)
    account.updated_at = clock.now()
    # Every other session and token ends; the one making the change stays signed in.
    revoke_all(session, account, except_id=keep_token_id)
    session.flush()


EDITABLE_FIELDS = ("first_name", "last_name", "phone", "email")


def update_profile(session: Session, account: Account, changes: dict[str, object]) -> Account:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed({k: ["Unknown field."] for k in unknown})
    if "email" in changes:
        email = normalise_email(str(changes["email"]))
        other = find_by_email(session, email)
        if other is not None and other.id != account.id:
            raise Conflict("An account with this email exists.", slug="email-taken")
        changes = {**changes, "email": email}
    for key, value in changes.items():
        setattr(account, key, value.strip() if isinstance(value, str) else value)
    account.updated_at = clock.now()
    session.flush()
    return account
