"""The sandbox as one plain WSGI application: both upstream APIs on one port plus the /_sandbox/ control endpoint.

It is deliberately not a Django view layer: it has no database, and per-request overhead matters (the sync
benchmark pages through 100,000 appointments).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time

from proctordash.sandbox import proctorexam, smarterproctoring
from proctordash.sandbox.data import iso_z
from proctordash.sandbox.faults import Decision, FaultPlan, FaultSpecError
from proctordash.sandbox.store import Store
from proctordash.sandbox.web import (
    Response,
    json_response,
    pe_error,
    read_body,
    sp_error,
    status_line,
)

SID = "[^/]+"
ROUTES = [
    # (method, pattern, endpoint name for faults and counters, handler)
    ("GET", re.compile(rf"^/v1/installs/({SID})/reports/appointments$"), "appointments",
     smarterproctoring.list_appointments),
    ("GET", re.compile(rf"^/v1/installs/({SID})/enrollments/({SID})/exams/({SID})/sessions$"), "sessions",
     smarterproctoring.list_sessions),
    ("GET", re.compile(rf"^/v1/installs/({SID})/courses/({SID})/exams/({SID})/configurations/({SID})$"),
     "configuration", smarterproctoring.get_configuration),
    ("PUT", re.compile(rf"^/v1/installs/({SID})/courses/({SID})/exams/({SID})/configurations/({SID})$"),
     "configuration_update", smarterproctoring.update_configuration),
    ("POST", re.compile(rf"^/v1/installs/({SID})/courses/({SID})/exams$"), "create_exam",
     smarterproctoring.create_exam),
    ("GET", re.compile(r"^/api/v3/exams$"), "pe_exams", proctorexam.list_exams),
    ("GET", re.compile(r"^/api/v3/exams/([^/]+)/student_sessions$"), "pe_student_sessions",
     proctorexam.list_student_sessions),
]
GATEWAY_PAGE = (
    "<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n<center><h1>{status}</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class TruncatedBody(Exception):
    """Raised after half a body is sent, so the server drops the connection (an injected fault, not a bug)."""


class SandboxApp:
    def __init__(self, *, store: Store, credentials: dict[str, str], faults: dict | None = None):
        self.store = store
        self.credentials = credentials
        self.fault_plan = FaultPlan()
        self.startup_faults = faults or {}
        self.fault_plan.set(self.startup_faults)
        self.wake = threading.Event()  # set on reset: hanging requests end early
        self.rng_lock = threading.Lock()
        self.rng = random.Random(f"{store.seed}:writes")

    def start_warmup(self) -> None:
        """Encode every record in the background (called in the serving process, after the fork)."""
        threading.Thread(target=self.store.warm, name="sandbox-warmup", daemon=True).start()

    def new_rng(self) -> random.Random:
        """A generator for SIDs of created records: deterministic in the order of the writes."""
        with self.rng_lock:
            return random.Random(self.rng.getrandbits(64))

    # --- WSGI -----------------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path.startswith("/_sandbox/"):
                response = self.control(method, path[len("/_sandbox/"):], environ)
            else:
                response = self.dispatch(method, path, environ)
        except Exception:  # never a bare 500 page: answer like the upstream would, and keep the trace in the log
            import traceback

            traceback.print_exc()
            response = sp_error(500, "An internal server error occurred")
        headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body)))]
        headers.extend(response.headers)
        start_response(status_line(response.status), headers)
        if response.truncate:
            return self._truncated(response.body)
        return [response.body]

    @staticmethod
    def _truncated(body: bytes):
        yield body[: max(1, len(body) // 2)]
        raise TruncatedBody("injected fault: truncated body (connection closed on purpose)")

    def dispatch(self, method: str, path: str, environ) -> Response:
        path_matched = False
        for route_method, pattern, endpoint, handler in ROUTES:
            match = pattern.match(path)
            if not match:
                continue
            path_matched = True
            if route_method != method:
                continue
            with self.store.lock:
                self.store.requests[endpoint] += 1
            return self.with_faults(endpoint, self.fault_plan.decide(endpoint), handler, environ, match.groups())
        if path.startswith("/api/"):
            return pe_error(404, "Not found")
        if path_matched:
            return sp_error(405, "Method Not Allowed")
        return sp_error(404, "Not Found")

    def with_faults(self, endpoint: str, decision: Decision, handler, environ, args) -> Response:
        pe = endpoint.startswith("pe_")
        if decision.latency:
            self.wake.wait(decision.latency)
        kind = decision.kind
        if kind == "hang":
            self.wake.wait(decision.hang_seconds)
        elif kind == "expired_token":
            return pe_error(401, "Token expired") if pe else sp_error(401, "Token expired")
        elif kind == "rate_limit":
            response = pe_error(429, "Rate limit exceeded") if pe else sp_error(429, "Rate limit exceeded")
            response.headers.append(("Retry-After", str(decision.retry_after)))
            return response
        elif kind == "error_rate":
            if decision.status == 500:
                return pe_error(500, "Internal Server Error") if pe else sp_error(500, "An internal server error occurred")
            page = GATEWAY_PAGE.format(status=status_line(decision.status))
            return Response(decision.status, page.encode(), content_type="text/html")
        if not pe:
            problem = smarterproctoring.authenticate(environ, self.credentials["SMARTERPROCTORING_TOKEN"])
            if problem:
                return problem
        response = handler(self, environ, decision, *args)
        if kind == "malformed" and response.status == 200:
            response.body = response.body[: len(response.body) // 2] + b"<!-- upstream error -->"
        elif kind == "truncated":
            response.truncate = True
        return response

    # --- control endpoint -----------------------------------------------------------------------------------------
    def control(self, method: str, name: str, environ) -> Response:
        store = self.store
        if name == "health" and method == "GET":
            with store.lock:
                now = store.tick()
                return json_response(200, {
                    "status": "ok", "seed": store.seed, "appointments": len(store.world.appointments),
                    "install_sid": store.install_sid, "anchor": iso_z(store.anchor), "now": iso_z(now),
                    "clock_offset_seconds": store.offset, "requests": dict(store.requests),
                    "faults": self.fault_plan.describe(),
                })
        if name == "reset" and method == "POST":
            self.wake.set()
            self.wake = threading.Event()
            store.load()
            self.start_warmup()
            self.fault_plan.set(self.startup_faults)
            with self.rng_lock:
                self.rng = random.Random(f"{store.seed}:writes")
            return json_response(200, {"status": "reset", "now": iso_z(store.now())})
        if name == "faults":
            if method == "GET":
                return json_response(200, self.fault_plan.describe())
            if method == "POST":
                try:
                    plan = json.loads(read_body(environ) or b"{}")
                    self.fault_plan.set(plan)
                except (ValueError, FaultSpecError) as error:
                    return json_response(400, {"error": str(error)})
                return json_response(200, self.fault_plan.describe())
        if name == "clock":
            if method == "POST":
                try:
                    body = json.loads(read_body(environ) or b"{}")
                    seconds = body["advance_seconds"]
                    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                        raise ValueError
                except (ValueError, KeyError, TypeError):
                    return json_response(400, {"error": "send {\"advance_seconds\": N} with N >= 0"})
                store.advance(float(seconds))
            if method in ("GET", "POST"):
                return json_response(200, {"now": iso_z(store.now()), "offset_seconds": store.offset,
                                           "real_time": iso_z(time.time())})
        return json_response(404, {"error": f"no control endpoint {method} /_sandbox/{name}"})
