"""Helpers for the sandbox's contract tests: signed/unsigned calls to the running sandbox over HTTP."""

from __future__ import annotations

import itertools
import time

import pytest
import requests
from django.conf import settings

from proctordash.sandbox.proctorexam import sign

_nonces = itertools.count(int(time.time() * 1000) * 1000)


class Upstream:
    """Calls to the sandbox the way a client would make them (the clients' code is not used on purpose)."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.url = sandbox.url
        self.install = settings.SMARTERPROCTORING_INSTALL_SID
        self.http = requests.Session()

    # SmarterProctoring
    def sp(self, method: str, path: str, *, token: str | None = "default", **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token == "default":
            token = settings.SMARTERPROCTORING_TOKEN
        if token is not None:
            headers["token"] = token
        path = path.replace("{install}", self.install)
        return self.http.request(method, f"{self.url}{path}", headers=headers, timeout=kwargs.pop("timeout", 10),
                                 **kwargs)

    def appointments(self, **params) -> requests.Response:
        return self.sp("GET", "/v1/installs/{install}/reports/appointments", params=params)

    def all_appointments(self) -> list[dict]:
        body = self.appointments(limit=1000).json()
        assert body["total"] <= 1000
        return body["results"]

    # ProctorExam
    def pe_params(self, params: dict | None = None, *, timestamp: int | None = None, nonce: int | None = None) -> dict:
        params = {k: str(v) for k, v in (params or {}).items()}
        params["timestamp"] = str(timestamp if timestamp is not None else int(time.time() * 1000))
        params["nonce"] = str(nonce if nonce is not None else next(_nonces))
        params["signature"] = sign(params, settings.PROCTOREXAM_SECRET_KEY)
        return params

    def pe(self, path: str, params: dict | None = None, *, signed: dict | None = None, headers: dict | None = None,
           **kwargs) -> requests.Response:
        all_headers = {"Accept": "application/vnd.procwise.v3",
                       "Authorization": f"Token token={settings.PROCTOREXAM_TOKEN}"}
        all_headers.update(headers or {})
        query = signed if signed is not None else self.pe_params(params)
        return self.http.get(f"{self.url}{path}", params=query, headers=all_headers, timeout=kwargs.pop("timeout", 10),
                             **kwargs)


@pytest.fixture
def upstream(sandbox):
    """The running sandbox, reset afterwards (data, faults, clock) so tests do not leak into each other."""
    client = Upstream(sandbox)
    yield client
    sandbox.reset()
