"""Django's {# #} comments end at the line's end: one spread over lines is printed on the page as text."""

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_no_template_has_a_multiline_short_comment():
    offenders = [f"{path.relative_to(TEMPLATES)}:{number}"
                 for path in sorted(TEMPLATES.rglob("*.html"))
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if "{#" in line and "#}" not in line[line.index("{#"):]]
    assert not offenders, f"use {{% comment %}} for these: {offenders}"
