"""The address of the person making a request, as far as this deployment can know it.

Behind DJANGO_PROXY_COUNT reverse proxies (each appending the address it received the connection from to
X-Forwarded-For, as nginx's `$proxy_add_x_forwarded_for`, HAProxy's `option forwardfor` and cloud load balancers do),
the client is the N-th address from the *right* of X-Forwarded-For: everything left of it was written by whoever
connected to the first proxy, and can be forged. Without proxies (0, the default) the header is ignored entirely and
the socket's peer (REMOTE_ADDR) is the client, so a forged header changes nothing.

Used by django-axes (its documented `AXES_CLIENT_IP_CALLABLE`), the /metrics allow-list and the request log.
(django-ipware counts proxies differently — the last proxy is not in its count — so the rule is written out here
rather than translated into its settings, where an off-by-one would trust a forged address.)
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(value: str) -> str | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:51234"
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The client's address ("" when even the socket's peer is unknown, e.g. a test request without one)."""
    remote = _valid(request.META.get("REMOTE_ADDR", "")) or ""
    count = getattr(settings, "PROXY_COUNT", 0)
    if count <= 0:
        return remote
    chain = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(chain) < count:
        # Fewer hops than proxies: the request did not come through all of them (or a proxy does not append).
        # Trust nothing the request says about itself.
        return remote
    return _valid(chain[-count]) or remote
