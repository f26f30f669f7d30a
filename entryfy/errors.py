"""Business-rule errors, free of Flask. The HTTP layer turns each into problem+json (RFC 9457)
with ``type`` = PROBLEM_BASE + slug, so clients can rely on the slug. Every slug is listed,
with what to do about it, in entryfy.problem_types (served at GET /api/v1/problems)."""

from __future__ import annotations

from typing import Any

# A relative reference (RFC 9457 allows one): the catalogue's entry on the API's own origin.
PROBLEM_BASE = "/api/v1/problems/"


class EntryfyError(Exception):
    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str | None = None, *, slug: str | None = None,
                 title: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if slug:
            self.slug = slug
        if title:
            self.title = title
        self.extra = extra


class ValidationFailed(EntryfyError):
    status = 400
    slug = "validation-error"
    title = "The request is not valid"

    def __init__(self, errors: dict[str, Any], detail: str | None = None) -> None:
        super().__init__(detail or "Some fields are not valid.", errors=errors)


class Unauthorized(EntryfyError):
    status = 401
    slug = "unauthorized"
    title = "Not signed in"


class Forbidden(EntryfyError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"


class NotFound(EntryfyError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(EntryfyError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class Unprocessable(EntryfyError):
    """Well-formed, but refused by a business rule."""

    status = 422
    slug = "rule-violation"
    title = "Refused by a business rule"
