from django.http import HttpRequest
from django.template.response import TemplateResponse



def bad_request(request: HttpRequest, exception=None):
    """handler400: the 400 page in the layout. Django's own view renders 400.html without a request (no navigation,
    no sign-out); a request that failed as badly as a disallowed host may not render the layout, so that case falls
    back to the bare page."""
    try:
        response = TemplateResponse(request, "400.html", {}, status=400)
        response.render()
        return response
    except Exception:  # noqa: BLE001 - an error page must never fail
        from django.http import HttpResponseBadRequest

        return HttpResponseBadRequest(BARE_400)


BARE_400 = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Request not understood · ProctorDash</title>
<link rel="stylesheet" href="/static/css/proctordash.css"></head><body>
<header class="topbar"><a class="brand" href="/">ProctorDash</a></header>
<main id="main"><section class="card narrow" role="alert"><h1>This request could not be understood</h1>
<p>The address or the form that was sent is not one the dashboard can read, so nothing was changed.
Start again from <a href="/">your start page</a>.</p></section></main></body></html>"""


def csrf_failure(request: HttpRequest, reason: str = ""):
    """CSRF_FAILURE_VIEW: a 403 in the layout that says what happened in staff language (the reason Django gives is
    for the log, not the page)."""
    import logging

    logging.getLogger("proctordash.security").warning("CSRF check failed: %s", reason)
    response = TemplateResponse(request, "403.html", {"csrf_failure": True}, status=403)
    response.csrf_failure = True  # read by HtmxForbiddenMiddleware
    return response
