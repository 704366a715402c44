import logging
import zoneinfo

from django import forms
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from proctordash.accounts import oidc
from proctordash.accounts.context_processors import navigation_for
from proctordash.accounts.models import StaffProfile
from proctordash.accounts.permissions import staff_required

log = logging.getLogger(__name__)


def time_zone_choices() -> list[tuple[str, str]]:
    return [("", "— the dashboard's time zone —")] + [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ProfileForm(forms.ModelForm):
    # A select, so nobody has to type "America/Argentina/Buenos_Aires"; the model validator still guards the value.
    time_zone = forms.TypedChoiceField(choices=time_zone_choices, required=False, label="Your time zone")

    class Meta:
        model = StaffProfile
        fields = ["time_zone"]


@staff_required
def profile(request: HttpRequest):
    profile = getattr(request.user, "staff_profile", None)
    form = None
    if profile is not None:
        form = ProfileForm(request.POST or None, instance=profile)
        if request.method == "POST" and form.is_valid():
            form.save()
            messages.success(request, "Your time zone was saved.")
            return redirect("profile")
    courses = list(request.user.course_assignments.values_list("course_sid", flat=True))
    return TemplateResponse(request, "accounts/profile.html", {"form": form, "courses": courses})


def home(request: HttpRequest):
    """Send staff to the first page their role has; an account without a role sees why it has nothing."""
    nav = navigation_for(request.user)
    if nav:
        return redirect(nav[0]["url"])
    return TemplateResponse(request, "core/home.html", {})


# --- signing in and out ----------------------------------------------------------------------------------------------

LOCAL_BACKEND = "proctordash.accounts.backends.LocalPasswordBackend"


class LoginView(auth_views.LoginView):
    """The sign-in page: "Sign in with <university>" when OIDC is on, the local password form when local sign-in is
    on (both by default when OIDC is configured: the local form is the break-glass way in)."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(oidc_enabled=oidc.enabled(), local_login_enabled=settings.LOCAL_LOGIN_ENABLED,
                       oidc_provider_name=settings.OIDC_PROVIDER_NAME)
        return context

    def post(self, request, *args, **kwargs):
        if not settings.LOCAL_LOGIN_ENABLED:
            return self.render_to_response(self.get_context_data(), status=403)
        return super().post(request, *args, **kwargs)


login = login_not_required(LoginView.as_view())


class OidcStartView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's authorization endpoint (state, nonce and PKCE kept in the session)."""

    def __init__(self, **kwargs):
        # not mozilla-django-oidc's __init__: it reads the endpoint from settings, ours comes from discovery
        View.__init__(self, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        if not oidc.enabled():
            return refused(request, oidc.OidcRefusal("disabled_oidc", "OIDC is not configured", status=404))
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc.provider().authorization_endpoint
        except oidc.OidcRefusal as refusal:
            return refused(request, refusal)
        return super().get(request)


oidc_start = login_not_required(OidcStartView.as_view())


@login_not_required
@require_GET
def oidc_callback(request):
    """The provider sends the browser back here with `code` and `state` (or `error`)."""
    if not oidc.enabled():
        return refused(request, oidc.OidcRefusal("disabled_oidc", "OIDC is not configured", status=404))
    states = request.session.get("oidc_states") or {}
    state = request.GET.get("state", "")
    if request.GET.get("error"):
        states.pop(state, None)
        request.session["oidc_states"] = states
        error = request.GET.get("error", "")[:64]
        return refused(request, oidc.OidcRefusal("provider_error", f"provider answered error={error!r}",
                                                 provider_error=error))
    if not request.GET.get("code") or state not in states:
        return refused(request, oidc.OidcRefusal(
            "state", "callback state not issued by this browser's session (tampered, replayed, or another tab)",
            status=400))
    entry = states.pop(state)
    request.session["oidc_states"] = states  # one use only, even when the sign-in fails
    request.session.save()
    try:
        user = oidc.OidcBackend().authenticate(request, nonce=entry.get("nonce"),
                                               code_verifier=entry.get("code_verifier"))
    except oidc.OidcRefusal as refusal:
        return refused(request, refusal)
    if user is None:
        return refused(request, oidc.OidcRefusal("rejected", "no user"))
    id_token = request.session.get("oidc_id_token")
    next_url = request.session.pop("oidc_login_next", None)
    auth.login(request, user, backend=LOCAL_BACKEND)  # a new session: state and tokens of the old one go
    request.session["oidc_id_token"] = id_token
    return HttpResponseRedirect(next_url or reverse(settings.LOGIN_REDIRECT_URL))


REFUSALS = {
    # kind: (heading, what happened, what to do)
    "no_role": ("No access to ProctorDash",
                "You signed in as {name} at {provider}, but your account is not in any of the groups that give access "
                "to ProctorDash, so you have not been signed in here.",
                "If your work needs the dashboard, ask the proctoring team ({support}) to add you to the right "
                "group. If you were just added, sign out of {provider} and sign in again."),
    "disabled": ("Account switched off",
                 "You signed in as {name} at {provider}, but your ProctorDash account has been switched off.",
                 "Ask the proctoring team ({support}) if you think this is a mistake."),
    "state": ("Sign-in not completed",
              "This sign-in could not be matched to one started in this browser — it may have been started in another "
              "tab, taken too long, or the link was changed on the way. Nothing was signed in.",
              "Start again from the sign-in page."),
    "expired": ("Sign-in not completed",
                "The answer from {provider} had already expired when it arrived, so it was not accepted. This can "
                "happen when the computer's clock is wrong or the sign-in took very long.",
                "Start again from the sign-in page. If it keeps happening, tell the proctoring team ({support})."),
    "wrong_audience": ("Sign-in not completed",
                       "The answer from {provider} was meant for another application, not for ProctorDash, so it was "
                       "not accepted. Nothing was signed in.",
                       "Start again from the sign-in page. If it keeps happening, tell the proctoring team "
                       "({support}) the time it happened."),
    "invalid_token": ("Sign-in not completed",
                      "The answer from {provider} could not be verified, so it was not accepted. Nothing was signed in.",
                      "Start again from the sign-in page. If it keeps happening, tell the proctoring team "
                      "({support}) the time it happened."),
    "rejected": ("Sign-in not completed",
                 "{provider} did not confirm this sign-in (it may have been used already). Nothing was signed in.",
                 "Start again from the sign-in page."),
    "provider_error": ("Sign-in not completed",
                       "{provider} did not sign you in{provider_error_text}.",
                       "Start again from the sign-in page, or ask the proctoring team ({support})."),
    "unavailable": ("University sign-in unavailable",
                    "{provider} did not answer, so you could not be signed in.",
                    "Try again in a minute. If it keeps happening, tell the proctoring team ({support})."),
    "misconfigured": ("University sign-in unavailable",
                      "The sign-in through {provider} is not set up correctly on ProctorDash's side.",
                      "Tell the proctoring team ({support}); they can find the details in the server log."),
    "disabled_oidc": ("Not available", "Sign-in through a university account is not set up on this dashboard.",
                      "Use the sign-in page."),
}


def refused(request, refusal: "oidc.OidcRefusal"):
    """The page for a sign-in that did not succeed: what happened and what to do, in staff language. The technical
    reason goes to the log (with the request id), never onto the page."""
    log.warning("OIDC sign-in refused (%s): %s", refusal.kind, refusal)
    heading, happened, todo = REFUSALS.get(refusal.kind, REFUSALS["invalid_token"])
    provider_error = refusal.context.get("provider_error")
    words = {
        "name": refusal.context.get("name") or "your university account",
        "provider": settings.OIDC_PROVIDER_NAME if settings.OIDC_PROVIDER_NAME != "your university"
        else "your university's sign-in",
        "support": settings.SUPPORT_EMAIL,
        "provider_error_text": " (it answered “access denied”)" if provider_error == "access_denied" else "",
    }
    happened, todo = happened.format(**words), todo.format(**words)
    happened = happened[0].upper() + happened[1:]
    return TemplateResponse(request, "accounts/oidc_refused.html",
                            {"heading": heading, "happened": happened, "todo": todo, "kind": refusal.kind,
                             "local_login_enabled": settings.LOCAL_LOGIN_ENABLED},
                            status=refusal.status)


@require_POST
def logout(request):
    """Sign out here, and at the provider too when this was a university sign-in and it supports RP-initiated
    logout; it then sends the browser back to our login page."""
    id_token = request.session.get("oidc_id_token")
    target = oidc.logout_url(request, id_token=id_token, post_logout_redirect=reverse("login"))
    auth.logout(request)
    return HttpResponseRedirect(target or reverse("login"))
