"""Password sign-in for local accounts: the break-glass way in beside the university's sign-in. LOCAL_LOGIN_ENABLED
off closes it everywhere — the login page and Django's admin login alike — while sessions keep working."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend


class LocalPasswordBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if not getattr(settings, "LOCAL_LOGIN_ENABLED", True):
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
