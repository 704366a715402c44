"""The layering and the absence of import cycles (.importlinter), checked on every run.

Imports flow down: demo → exams | learners → monitoring → appointments → sync → accounts → integrations → core;
only the demo set-up knows the sandbox; no two sibling packages or modules import each other in a cycle.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
