"""Cells a spreadsheet will not run (OWASP "CSV injection"): the one rule every CSV export of the dashboard uses.

Upstream names and comments are untrusted; a cell that starts like a formula (or with a control character a
spreadsheet strips before looking) gets a leading apostrophe, which spreadsheets show as text and do not evaluate.
"""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def inert_cell(value: object) -> str:
    """The text of a cell as a spreadsheet must read it: never as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
