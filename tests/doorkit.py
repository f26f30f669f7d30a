"""Arranging doors, accesses and credentials for the door tests (through entryfy.ops.doors,
the same functions the API uses)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from entryfy import mail
from entryfy.ops import doors as ops
from models import Access, Door, Membership, Site

# The default factory site is at 59.33, 18.06 with a 200 m radius.
INSIDE = {"latitude": 59.33, "longitude": 18.06, "accuracy_m": 10}
OUTSIDE = {"latitude": 59.40, "longitude": 18.06, "accuracy_m": 10}  # ~7.8 km north


def door(s: Session, site: Site, **kw: Any) -> Door:
    d = ops.create_door(s, site=site, name=kw.pop("name", "Main door"), **kw)
    s.commit()
    return d


def access(s: Session, doors: list[Door], members: list[Membership], methods: list[str],
           **kw: Any) -> Access:
    a = ops.create_access(s, customer_id=doors[0].customer_id, name=kw.pop("name", "Staff"),
                          door_ids=[d.id for d in doors], member_ids=[m.id for m in members],
                          methods=methods, **kw)
    s.commit()
    return a


def pin_for(s: Session, membership: Membership, site: Site | None = None) -> str:
    """A PIN for the membership at ``site`` (default: the one site of its accesses)."""
    _, pin = ops.issue_pin(s, membership, site_id=site.id if site else None)
    s.commit()
    return pin


def mail_ids() -> set[str]:
    return {m["Message-ID"] for m in mail.mailer().messages()}


def last_mail_to(address: str, exclude: set[str] | frozenset[str] = frozenset()) -> Any:
    """The newest mail to ``address`` not in ``exclude`` (outbox files are named by the
    clock, which tests freeze: pass the ids seen before to pick the new one)."""
    found = [m for m in mail.mailer().messages()
             if m["To"] == address and m["Message-ID"] not in exclude]
    if len(found) != 1 and exclude:
        raise AssertionError(f"expected one new mail to {address}, found {len(found)}")
    if not found:
        raise AssertionError(f"no mail to {address}")
    return found[-1]


def guest_codes(address: str, exclude: set[str] | frozenset[str] = frozenset()
                ) -> tuple[str, str]:
    # The mail is multipart (the QR code is attached as an image): read its text part.
    body = last_mail_to(address, exclude).get_body(("plain",)).get_content()
    pin = re.search(r"keypads: (\d+)", body)
    qr = re.search(r"^(EFG1\.[A-Za-z0-9_-]+)$", body, re.M)
    assert pin and qr, body
    return pin.group(1), qr.group(1)
