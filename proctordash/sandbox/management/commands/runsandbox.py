"""Run the upstream sandbox: SmarterProctoring v1 and ProctorExam v3 stand-ins on one port, with living data."""

from __future__ import annotations

import json
import math
import sys
import time
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from proctordash.sandbox.faults import FaultSpecError, validate

CREDENTIALS = ["SMARTERPROCTORING_TOKEN", "SMARTERPROCTORING_INSTALL_SID", "PROCTOREXAM_TOKEN",
               "PROCTOREXAM_SECRET_KEY"]


class Command(BaseCommand):
    help = ("Serve the SmarterProctoring and ProctorExam sandbox (own in-memory data from --seed; credentials from "
            "the dashboard's settings). Control endpoint: /_sandbox/health, /reset, /faults, /clock.")

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--appointments", type=int, default=5000, help="number of appointments (0–200000)")
        parser.add_argument("--anchor", help="ISO time the data's relative dates hang from (default: now, "
                                             "floored to the hour); fix it to get byte-identical data across runs")
        parser.add_argument("--threads", type=int, default=32)
        parser.add_argument("--faults", help="fault plan as JSON, or @path to a JSON file (see docs/architecture.md)")
        parser.add_argument("--latency", type=float, help="seconds added to every upstream response")
        parser.add_argument("--error-rate", type=float, help="share of upstream requests answered 500/502/503")
        parser.add_argument("--fault-seed", type=int, help="seed of the fault draws (default 0)")

    def handle(self, *args, **options):
        missing = [name for name in CREDENTIALS if not getattr(settings, name, "")]
        if missing:
            raise CommandError(
                "The sandbox needs the same credentials as the dashboard and will not invent them: set "
                + ", ".join(missing) + " (make demo writes generated ones to var/demo.env).")
        if not 0 <= options["appointments"] <= 200_000:
            raise CommandError("--appointments must be between 0 and 200000")
        plan = self._fault_plan(options)
        if options["anchor"]:
            try:
                anchor = datetime.fromisoformat(options["anchor"]).timestamp()
            except ValueError:
                raise CommandError("--anchor must be an ISO 8601 time such as 2026-01-05T12:00:00Z") from None
        else:
            anchor = math.floor(time.time() / 3600) * 3600
        credentials = {name: getattr(settings, name) for name in CREDENTIALS}

        def factory():
            from proctordash.sandbox.app import SandboxApp
            from proctordash.sandbox.store import Store

            started = time.monotonic()
            store = Store(seed=options["seed"], appointments=options["appointments"], anchor=anchor,
                          install_sid=credentials["SMARTERPROCTORING_INSTALL_SID"])
            sys.stderr.write(f"sandbox: {options['appointments']} appointments from seed {options['seed']} in "
                             f"{time.monotonic() - started:.1f} s; serving http://{options['host']}:{options['port']}"
                             f" (/v1/..., /api/v3/..., /_sandbox/health)\n")
            return SandboxApp(store=store, credentials=credentials, faults=plan)

        from proctordash.sandbox.server import SandboxServer

        SandboxServer(factory, host=options["host"], port=options["port"], threads=options["threads"]).run()

    @staticmethod
    def _fault_plan(options) -> dict:
        plan: dict = {}
        raw = options["faults"]
        if raw:
            try:
                text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
                plan = json.loads(text)
            except (OSError, ValueError) as error:
                raise CommandError(f"--faults: {error}") from None
        everywhere = dict(plan.get("*", {}))
        if options["latency"] is not None:
            everywhere["latency"] = options["latency"]
        if options["error_rate"] is not None:
            everywhere["error_rate"] = options["error_rate"]
        if everywhere:
            plan["*"] = everywhere
        if options["fault_seed"] is not None:
            plan["seed"] = options["fault_seed"]
        try:
            validate(plan)
        except FaultSpecError as error:
            raise CommandError(f"fault plan: {error}") from None
        return plan
