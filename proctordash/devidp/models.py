from django.conf import settings
from django.db import models


class Person(models.Model):
    """A person of the development "university": their claims beyond the standard ones (groups, courses …)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="person")
    claims = models.JSONField(default=dict, blank=True)
