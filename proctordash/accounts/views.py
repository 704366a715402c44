import zoneinfo

from django import forms
from django.contrib import messages
from django.http import HttpRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from proctordash.accounts.context_processors import navigation_for
from proctordash.accounts.models import StaffProfile
from proctordash.accounts.permissions import staff_required


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
