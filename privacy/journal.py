"""What the privacy engine keeps in the witness (entryfy.witness), outside the database.

Two append-only logs, each line a JSON object authenticated with an HMAC (a key derived from
ENTRYFY_DATA_KEY for this purpose only), so a line changed or forged by someone who can write
the folder but does not hold the key is reported, never acted on:

* ``erasures``: one line per erasure (a person's platform part or one customer's part): the
  account id, a keyed hash of the e-mail address, the request id, the customer id (or none),
  the time. Never the erased data: only what erasing again after a restore needs.
* ``audit-heads``: the head (seq, hash) of every audit chain an audit append moved, published
  when its transaction commits (one line per commit, i.e. short batches). ``entryfy audit
  verify`` compares the database's chains with the latest published head of each: a database
  restored from an older backup is behind, and so fails until an operator acknowledges the
  restore (``entryfy audit acknowledge-restore``: a ``restore-ack`` line with the database's
  heads, from which comparisons start again, and an audit event saying so).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import uuid
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from entryfy import clock, security
from entryfy import witness as witness_mod

log = logging.getLogger(__name__)

ERASURES = "erasures"
HEADS = "audit-heads"
_PENDING_HEADS = "entryfy.audit_heads_to_publish"


def _canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _mac(record: dict[str, Any]) -> str:
    return security.keys().keyed_hash("witness-line", _canonical(record))


def seal(record: dict[str, Any]) -> str:
    return _canonical({**record, "mac": _mac(record)})


@dataclasses.dataclass
class BadLine:
    log: str
    line_no: int
    problem: str


def unseal(log_name: str, line_no: int, line: str) -> dict[str, Any] | BadLine:
    try:
        data = json.loads(line)
    except ValueError:
        return BadLine(log_name, line_no, "not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("mac"), str):
        return BadLine(log_name, line_no, "no authentication code")
    mac = data.pop("mac")
    if not hmac.compare_digest(mac, _mac(data)):
        return BadLine(log_name, line_no, "authentication code does not verify (changed, "
                       "forged, or written with another ENTRYFY_DATA_KEY)")
    return data


# ------------------------------------------------------------------ the erasure journal

@dataclasses.dataclass(frozen=True)
class ErasureLine:
    line_no: int
    account_id: uuid.UUID
    email_hash: str | None
    request_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    at: str


def record_erasure(*, account_id: uuid.UUID, email_hash: str | None,
                   request_id: uuid.UUID | None, customer_id: uuid.UUID | None) -> None:
    """Append the journal line for one erasure; raises WitnessUnavailable if it cannot."""
    witness_mod.witness().append(ERASURES, seal({
        "v": 1, "kind": "erasure", "account_id": str(account_id), "email_hash": email_hash,
        "request_id": str(request_id) if request_id else None,
        "customer_id": str(customer_id) if customer_id else None,
        "at": clock.now().isoformat(),
    }))


def erasures() -> tuple[list[ErasureLine], list[BadLine]]:
    good: list[ErasureLine] = []
    bad: list[BadLine] = []
    for n, line in enumerate(witness_mod.witness().lines(ERASURES), start=1):
        data = unseal(ERASURES, n, line)
        if isinstance(data, BadLine):
            bad.append(data)
            continue
        try:
            good.append(ErasureLine(
                n, uuid.UUID(data["account_id"]), data.get("email_hash"),
                uuid.UUID(data["request_id"]) if data.get("request_id") else None,
                uuid.UUID(data["customer_id"]) if data.get("customer_id") else None,
                str(data.get("at"))))
        except (KeyError, ValueError, TypeError):
            bad.append(BadLine(ERASURES, n, "fields missing or malformed"))
    return good, bad


# ------------------------------------------------------------------ published audit heads

def note_head(session: Session, chain: str, seq: int, hash_: str) -> None:
    """Called by privacy.audit at every append: publish this head when the session commits."""
    session.info.setdefault(_PENDING_HEADS, {})[chain] = (seq, hash_)


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    heads = session.info.pop(_PENDING_HEADS, None)
    if not heads:
        return
    try:
        w = witness_mod.witness()
    except RuntimeError:  # a script without an app: nothing configured to publish to
        return
    try:
        w.append(HEADS, seal({"v": 1, "kind": "audit-heads", "at": clock.now().isoformat(),
                              "heads": {c: [s, h] for c, (s, h) in sorted(heads.items())}}))
    except witness_mod.WitnessUnavailable:
        # Already committed: the next append on these chains publishes again; until then the
        # witness is behind the database, which verify does not count as a break.
        log.warning("audit heads not published: witness unavailable chains=%d", len(heads))


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_HEADS, None)


def publish_restore_ack(heads: dict[str, tuple[int, str]]) -> None:
    """An operator acknowledged a restore: from this line on, the database's heads as they are
    now are what the witness compares with (the earlier lines stay, as the evidence of what was
    rolled back). Raises WitnessUnavailable if it cannot be written."""
    witness_mod.witness().append(HEADS, seal({
        "v": 1, "kind": "restore-ack", "at": clock.now().isoformat(),
        "heads": {c: [s, h] for c, (s, h) in sorted(heads.items())}}))


def published_heads() -> tuple[dict[str, tuple[int, str]], list[BadLine]]:
    """The highest head the witness saw for each chain (publications may land out of order),
    counted from the last acknowledged restore on."""
    out: dict[str, tuple[int, str]] = {}
    bad: list[BadLine] = []
    for n, line in enumerate(witness_mod.witness().lines(HEADS), start=1):
        data = unseal(HEADS, n, line)
        if isinstance(data, BadLine):
            bad.append(data)
            continue
        heads = data.get("heads")
        if not isinstance(heads, dict):
            bad.append(BadLine(HEADS, n, "fields missing or malformed"))
            continue
        if data.get("kind") == "restore-ack":
            out = {}  # a verified acknowledgement: the heads before it are history
        for chain, pair in heads.items():
            seq, h = int(pair[0]), str(pair[1])
            if chain not in out or seq > out[chain][0]:
                out[chain] = (seq, h)
    return out, bad


@dataclasses.dataclass
class Behind:
    chain: str
    seq: int
    problem: str


def compare_with_witness(session: Session) -> list[Behind]:
    """Chains the database holds behind (or apart from) what the witness saw: a rollback."""
    from models.audit import AuditChainHead, AuditEvent

    published, bad = published_heads()
    out = [Behind(b.log, b.line_no, f"witness line {b.line_no}: {b.problem}") for b in bad]
    for chain, (seq, h) in sorted(published.items()):
        head = session.get(AuditChainHead, chain, populate_existing=True)
        if head is None:
            out.append(Behind(chain, seq, f"the witness saw this chain at #{seq}; the "
                              "database has no such chain (restored from an older backup?)"))
            continue
        if head.seq < seq:
            out.append(Behind(chain, seq, f"the database chain ends at #{head.seq}, the "
                              f"witness saw #{seq}: records were rolled back (restore?)"))
            continue
        if seq == head.anchor_seq:
            if head.anchor_hash != h:
                out.append(Behind(chain, seq, "the chain's anchor differs from the head the "
                                  "witness saw"))
            continue
        if seq < head.anchor_seq:
            continue  # pruned by retention since: nothing left to compare
        ev_hash = session.scalar(select(AuditEvent.hash).where(AuditEvent.chain == chain,
                                                               AuditEvent.seq == seq))
        if ev_hash is not None and ev_hash != h:
            out.append(Behind(chain, seq, f"record #{seq} differs from the one the witness "
                              "saw: the chain was rolled back and rewritten (restore?)"))
    return out
