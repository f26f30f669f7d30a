"""The password policy (NIST SP 800-63B, 5.1.1.2): at least 10 characters, at most 256, no
composition rules, and no password that is common, breached, expected or built from the
person's own context (their e-mail address, their name, the service's name).

The blocklist is zxcvbn's (Dropbox's estimator, Python port ``zxcvbn`` on PyPI, MIT): its
``passwords`` frequency list, 30,000 passwords most common in published breaches (Xato's
10-million-password corpus among them), plus its pattern matching of variations (l33t,
capitals, years and digits appended, keyboard walks, sequences, repeats, dates, English
words and names). A password passes when zxcvbn estimates at least 10^8 guesses for it
with the context words added to its dictionaries, which refuses, e.g., ``Summer2026!``
(a common word with a year and a symbol). Ruled out: shipping our own list (a list we would
have to keep current), and asking the Pwned Passwords service (a request to a third party
for every password, and nothing may leave the machine at run time).
"""

from __future__ import annotations

import re

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from entryfy.errors import ValidationFailed

MIN_LENGTH = 10
MAX_LENGTH = 256
# zxcvbn's score 3: "safely unguessable", about 10^8 guesses.
MIN_GUESSES_LOG10 = 8.0
# zxcvbn's matching is quadratic in the length; beyond this the start decides.
_ESTIMATE_CHARS = 64
SERVICE_WORDS = ("entryfy",)
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])


def context_words(email: str | None, names: tuple[str | None, ...] = ()) -> list[str]:
    """The words a password must not be built from: the address, its parts, the names."""
    words: list[str] = list(SERVICE_WORDS)
    if email:
        email = email.strip().lower()
        local, _, domain = email.partition("@")
        words += [email, local, *re.split(r"[._+-]", local), *domain.split(".")[:-1]]
    for name in names:
        if name:
            words += [name.strip().lower(), *name.strip().lower().split()]
    return sorted({w for w in words if len(w) >= 3})


def problems(password: str, *, email: str | None = None,
             names: tuple[str | None, ...] = ()) -> list[str]:
    """What is wrong with ``password``, in words a person can act on; [] when it is fine."""
    if len(password) < MIN_LENGTH:
        return [f"Use at least {MIN_LENGTH} characters; a few unrelated words are easy to "
                "remember."]
    if len(password) > MAX_LENGTH:
        return [f"Use at most {MAX_LENGTH} characters."]
    lowered = password.lower()
    found: list[str] = []
    if lowered in _COMMON or lowered.strip() in _COMMON:
        found.append("This password is on a list of common and breached passwords.")
    words = context_words(email, names)
    own = [w for w in words if len(w) >= 4 and w in lowered and w not in SERVICE_WORDS]
    if email and own:
        found.append("The password must not contain your email address or your name.")
    if any(w in lowered for w in SERVICE_WORDS):
        found.append("The password must not contain the service's name.")
    if len(set(password)) < 4:
        found.append("The password is too repetitive.")
    if found:
        return found
    result = zxcvbn(password[:_ESTIMATE_CHARS], user_inputs=words)
    if result["guesses_log10"] < MIN_GUESSES_LOG10:
        warning = result["feedback"].get("warning") or "This password is easy to guess."
        return [f"{warning.rstrip('.')}. Choose a longer password of unrelated words."]
    return []


def check(password: str, *, email: str | None = None, names: tuple[str | None, ...] = (),
          field: str = "password") -> None:
    found = problems(password, email=email, names=names)
    if found:
        raise ValidationFailed({field: found}, detail="Choose another password: " + found[0])
