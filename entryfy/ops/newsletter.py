"""The newsletter: processing that rests on consent (registry purpose ``newsletter``).

Sent only to people whose consent stands at the moment of sending. Each message carries an
unsubscribe link in its text and the ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` headers
(RFC 2369, RFC 8058 one-click), all pointing at ``/api/v1/newsletter/unsubscribe?token=...``:
a POST there withdraws the consent at once, without signing in. The token is the account id and
an HMAC of it (a key derived from ENTRYFY_DATA_KEY for this purpose only), so it cannot be
guessed for another person and needs no table. Nothing personal is logged.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from urllib.parse import quote

from sqlalchemy.orm import Session

from entryfy import mail, security
from entryfy.errors import NotFound
from models.tenancy import system_scope
from privacy import consent

log = logging.getLogger(__name__)

PURPOSE = "newsletter"
UNSUBSCRIBE_PATH = "/api/v1/newsletter/unsubscribe"
FOOTER = ("\n\n--\nYou receive this because you agreed to our newsletter. Unsubscribe with one "
          "click: {link}\nWithdraw at any time in the app (Settings > Privacy) too; it stops "
          "at once.")


def unsubscribe_token(account_id: uuid.UUID) -> str:
    mac = security.keys().keyed_hash("newsletter-unsubscribe", str(account_id))
    return f"{account_id}.{mac[:32]}"


def account_of(token: str) -> uuid.UUID:
    """The account a valid unsubscribe token names; NotFound for any other token."""
    raw_id, _, mac = (token or "").partition(".")
    try:
        account_id = uuid.UUID(raw_id)
    except ValueError:
        raise NotFound("No such subscription.", slug="unsubscribe-token-invalid") from None
    if not hmac.compare_digest(unsubscribe_token(account_id), f"{account_id}.{mac}"):
        raise NotFound("No such subscription.", slug="unsubscribe-token-invalid")
    return account_id


def unsubscribe(session: Session, token: str) -> bool:
    """Withdraw the newsletter consent of the token's person (RFC 8058 one-click). True when
    a consent was withdrawn now; a second click changes nothing and is no error."""
    account_id = account_of(token)
    # No one is signed in: the token (an HMAC of the account id) is the proof of who it is.
    with system_scope(session, "one-click unsubscribe: the token names the person"):
        if not consent.has_consent(session, account_id, PURPOSE):
            return False
        consent.decide(session, account_id, [consent.Choice(purpose=PURPOSE, granted=False)],
                       "email_link")
    return True


def send_newsletter(session: Session, subject: str, body: str,
                    base_url: str = "http://localhost:5000") -> int:
    """Mail ``body`` to every account that consents to the newsletter now; returns the count."""
    sent = 0
    for account in consent.consenting_accounts(session, PURPOSE):
        if not consent.has_consent(session, account.id, PURPOSE):  # checked at use
            continue
        link = (f"{base_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token="
                f"{quote(unsubscribe_token(account.id))}")
        mail.send(account.email, subject, body + FOOTER.format(link=link), headers={
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        })
        sent += 1
    log.info("newsletter sent count=%d", sent)
    return sent
