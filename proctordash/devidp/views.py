"""The control endpoint of the development provider (tests, demo): /_devidp/health, /_devidp/faults, /_devidp/setup.
Guarded by DEVIDP_CONTROL_TOKEN (header X-Devidp-Control) when it is set."""

import hmac
import json
import os

from django.contrib.auth.views import LoginView
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from proctordash.devidp import faults, setup


def _allowed(request: HttpRequest) -> bool:
    expected = os.environ.get("DEVIDP_CONTROL_TOKEN", "")
    return not expected or hmac.compare_digest(request.headers.get("X-Devidp-Control", ""), expected)


@csrf_exempt
def control(request: HttpRequest, name: str):
    if not _allowed(request):
        return JsonResponse({"error": "control token required"}, status=403)
    if name == "health":
        return JsonResponse({"status": "ok"})
    if request.method != "POST":
        return JsonResponse({"error": "POST a JSON body"}, status=405)
    try:
        body = json.loads(request.body or b"{}")
        if name == "faults":
            return JsonResponse({"faults": faults.set_plan(body)})
        if name == "setup":
            setup.apply(body)
            return JsonResponse({"status": "ok"})
    except (ValueError, TypeError) as e:
        return JsonResponse({"error": str(e)}, status=400)
    return JsonResponse({"error": f"unknown control {name!r}"}, status=404)


login = LoginView.as_view(template_name="devidp/login.html")
