from django import template

from proctordash.sync.freshness import freshness_get

register = template.Library()


@register.inclusion_tag("core/_freshness.html", takes_context=True)
def freshness_banner(context, upstream: str = "smarterproctoring"):
    """{% freshness_banner "smarterproctoring" %} → the freshness line or warning for that upstream's data. A view
    that already computed it (same upstream) passes it as `preloaded_freshness` and saves the query."""
    preloaded = context.get("preloaded_freshness")
    freshness = preloaded if preloaded is not None and preloaded.upstream == upstream else freshness_get(upstream)
    return {"freshness": freshness, "request": context.get("request")}
