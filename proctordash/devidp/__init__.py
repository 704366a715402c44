"""A development OpenID Connect provider ("the university's sign-in") for the demo and the tests.

A separate small Django project — its own settings (`proctordash.devidp.settings`), database and process — built
on django-oauth-toolkit with OpenID Connect on: discovery, JWKS (RS256), authorization code with PKCE, userinfo and
RP-initiated logout. People and their claims (groups, courses …) and the dashboard's client registration come from
a JSON file; a control endpoint (/_devidp/…) lets tests add people and make the next ID tokens wrong on purpose
(wrong audience, expired) — the provider really signs and serves them, nothing is mocked.

Never part of a production deployment: the dashboard does not install this app, and nothing in the dashboard
imports it. Run: `python -m proctordash.devidp --port 8200 --config var/devidp.json`.
"""
