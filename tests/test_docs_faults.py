"""docs/faults.md: every row names at least one test, and every test it names exists (a row is kept only while its
test does). A renamed or deleted test makes this fail until the table says what holds the behaviour now."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rows() -> list[tuple[str, list[str]]]:
    out = []
    for line in (ROOT / "docs" / "faults.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("fault", "---") or set(cells[0]) <= {"-"}:
            continue
        out.append((cells[0], re.findall(r"`(tests/[^`]+)`", cells[3])))
    return out


def test_every_fault_row_names_a_test_that_exists():
    table = rows()
    assert len(table) >= 40, "the fault table lost rows"
    problems = []
    for fault, tests in table:
        if not tests:
            problems.append(f"{fault[:60]}: no test")
        for node in tests:
            path, _, name = node.partition("::")
            file = ROOT / path
            if not file.is_file():
                problems.append(f"{node}: no such file")
                continue
            defined = {n.name for n in ast.walk(ast.parse(file.read_text()))
                       if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            if name.split("[")[0] not in defined:
                problems.append(f"{node}: no such test")
    assert not problems, "\n".join(problems)
