"""Session engine: Django's database sessions, with the per-request expiry refresh made cheap.

SESSION_SAVE_EVERY_REQUEST stays on, so an idle session ends SESSION_COOKIE_AGE after the user's last request. With
the stock engine that costs every page a write transaction (savepoint, UPDATE of the session row, commit) even when
nothing in the session changed. This engine skips that write when the session is unchanged and its stored expiry is
less than SESSION_TOUCH_INTERVAL seconds (default 60) behind the one a save would write. The idle timeout then ends
up to that interval early (e.g. 7 h 59 min instead of 8 h); a changed session (login, messages, anything written)
is saved as before. Added for the appointment list's benchmark (docs/benchmarks.md, issue 7).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    _stored_expiry = None  # the loaded row's expire_date (None: not loaded from the database)

    def _get_session_from_db(self):
        row = super()._get_session_from_db()
        self._stored_expiry = row.expire_date if row is not None else None
        return row

    def save(self, must_create=False):
        interval = timedelta(seconds=getattr(settings, "SESSION_TOUCH_INTERVAL", 60))
        if (not must_create and not self.modified and self.session_key and self._stored_expiry is not None
                and self.get_expiry_date() - self._stored_expiry < interval):
            return  # unchanged and touched recently: the stored expiry is close enough
        super().save(must_create=must_create)
        self._stored_expiry = None
