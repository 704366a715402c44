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


def test_every_home_in_the_architecture_doc_exists():
    """docs/architecture.md's "one home for each behaviour" table names modules (and functions in parentheses) that
    exist: a move or rename that leaves the table wrong fails here."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## One home for each behaviour", 1)[1].split("\n## ", 1)[0]
    missing = []
    homes = 0
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("behaviour", "---"):
            continue
        for module in re.findall(r"`(\w+/[\w/]+\.py)`", cells[1]):
            homes += 1
            if not (ROOT / "proctordash" / module).is_file():
                missing.append(module)
        for module, name in re.findall(r"`(\w+/[\w/]+\.py)` \(`(\w+)`\)", cells[1]):
            source = (ROOT / "proctordash" / module).read_text()
            if f"def {name}(" not in source and f"class {name}(" not in source:
                missing.append(f"{module}::{name}")
    assert homes >= 30 and not missing, missing
