from django.http import HttpRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from proctordash.core.context_processors import navigation_for


def home(request: HttpRequest):
    """Send staff to the first page their role has; an account without a role sees why it has nothing."""
    nav = navigation_for(request.user)
    if nav:
        return redirect(nav[0]["url"])
    return TemplateResponse(request, "core/home.html", {})
