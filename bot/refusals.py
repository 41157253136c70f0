"""One kind of refusal for everything a citizen, an officer or a client asks
that cannot be done. Services and staff use-cases raise these; the web layer
has one handler that answers them as problem JSON (or an error page), with one
rule for the status: invalid input is 422, a conflict with the current state
is 409, an item that does not exist (or may not be seen) is 404."""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """A request that cannot be done: a stable `code` for programs, a `detail`
    for people, and the `field` to fix when one is to blame. `extra` goes into
    the problem body as it is (e.g. `errors` naming several fields)."""

    status = 409

    def __init__(self, code: str, detail: str, field: str | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.code, self.detail, self.field = code, detail, field
        self.extra = extra


class Invalid(Refused):
    """The input itself is wrong (a missing translation, a date in the past)."""

    status = 422


class Conflict(Refused):
    """The input is fine, but the item's current state does not allow it."""

    status = 409


class NotFound(Refused):
    """No such item — or one the asker may not see, which looks the same."""

    status = 404


class Forbidden(Refused):
    """The asker's role may not do this."""

    status = 403
