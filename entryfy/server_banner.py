"""No server banner: gunicorn names itself in a ``Server:`` header on every response, and no
setting turns that off (as of gunicorn 23-27 the header is written by
``gunicorn.http.wsgi.Response.default_headers``). ``hide_gunicorn_banner()``, called from
``gunicorn.conf.py`` (which the master runs before it forks its workers), drops that header;
the application itself sends no ``Server`` header either (api.body).

Werkzeug's development server (``entryfy run``) still names itself: it is not for
production.
"""

from __future__ import annotations


def hide_gunicorn_banner() -> bool:
    """Make gunicorn send no ``Server`` header. False when gunicorn is not installed or its
    response class no longer looks as expected (then nothing is changed)."""
    try:
        from gunicorn.http import wsgi
    except ImportError:
        return False
    response = wsgi.Response
    original = getattr(response, "default_headers", None)
    if original is None:
        return False
    if getattr(original, "_entryfy_no_banner", False):
        return True

    def default_headers(self: wsgi.Response) -> list[str]:
        return [h for h in original(self) if not h.lower().startswith("server:")]

    # Marks the replacement so a second call (another config load) does not wrap it again.
    default_headers._entryfy_no_banner = True  # type: ignore[attr-defined]  # a function attribute
    # Patching the class is the point: no setting of gunicorn's removes the header.
    response.default_headers = default_headers  # type: ignore[method-assign]  # see above
    return True
