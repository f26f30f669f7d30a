"""The newsletter: processing that rests on consent (registry purpose ``newsletter``).

Sent only to people whose consent stands at the moment of sending; each message says how to
withdraw, and a withdrawal stops the next send. Nothing personal is logged.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from entryfy import mail
from privacy import consent

log = logging.getLogger(__name__)

PURPOSE = "newsletter"
FOOTER = ("\n\n--\nYou receive this because you agreed to our newsletter. Withdraw at any time "
          "in the app (Settings > Privacy) or with PUT /api/v1/me/consents; it stops at once.")


def send_newsletter(session: Session, subject: str, body: str) -> int:
    """Mail ``body`` to every account that consents to the newsletter now; returns the count."""
    sent = 0
    for account in consent.consenting_accounts(session, PURPOSE):
        if not consent.has_consent(session, account.id, PURPOSE):  # checked at use
            continue
        mail.send(account.email, subject, body + FOOTER)
        sent += 1
    log.info("newsletter sent count=%d", sent)
    return sent
