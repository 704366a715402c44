"""Property tests of "what did the user change" (issue 16, item 1).

A random upstream configuration (every editable field, in the encodings the upstream may use: nulls or empties,
CRLF/CR/LF line endings, JSON strings for lists and objects, dates with seconds and milliseconds, JSON key order,
odd values no form would accept) is rendered into the real form, submitted the way a browser does (the HTML parser's
newline normalisation, an <input>'s value sanitisation, a textarea's leading newline, then CRLF line endings with
JavaScript off or LF through htmx; the advanced JSON box re-spaced and re-ordered), bound back and compared:

- nothing touched → no change, no error, and no PUT would be sent;
- some fields edited → exactly those fields change, and the PUT body carries every other field exactly as the
  upstream holds it (its own line endings, its nulls).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from html import unescape
from html.parser import HTMLParser

import pytest
from django.http import QueryDict
from django.template.loader import render_to_string
from hypothesis import HealthCheck, given, settings, strategies as st

from proctordash.core.vocabulary import PERMITTED_ITEMS
from proctordash.exams import fields as F_
from proctordash.exams.forms import ConfigurationBundle, input_text, password_alt

pytestmark = pytest.mark.django_db  # the template tags read nothing, but the bundle may ask for labels

NEWLINES = st.sampled_from(["\n", "\r\n", "\r"])
WORD = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)
LINE = st.lists(WORD, min_size=1, max_size=3).map(" ".join)


@st.composite
def multiline(draw):
    lines = draw(st.lists(LINE | st.just(""), min_size=1, max_size=4))
    out = lines[0]
    for line in lines[1:]:
        out += draw(NEWLINES) + line
    if draw(st.booleans()):
        out = draw(NEWLINES) + out  # a text that starts with a line break (the textarea's own newline is separate)
    return out


TEXT = st.one_of(st.none(), st.just(""), LINE, multiline(), LINE.map(lambda s: f"  {s} "))
INSTANT = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2150, 1, 1),
                       timezones=st.just(timezone.utc))


@st.composite
def upstream_date(draw):
    when = draw(INSTANT)
    style = draw(st.sampled_from(["ms", "s", "us"]))
    if style == "ms":
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    if style == "s":
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


DATE = st.one_of(st.none(), upstream_date())
NUMBER = st.one_of(st.none(), st.integers(-3, 200000), st.integers(1, 500).map(float))
TS = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32).map(lambda h: "TS" + h)
ODD_TS = st.sampled_from(["TS123", "foo/bar", "<b>x</b>"])


def maybe_json_string(strategy):
    """The reference page types some response fields as strings: the upstream may send them JSON-encoded."""
    return strategy.flatmap(lambda v: st.sampled_from([v, json.dumps(v)]) if v is not None else st.just(v))


SLOT = st.fixed_dictionaries({
    "location": st.one_of(LINE, multiline()), "timeType": st.sampled_from(["between", None]),
    "startTime": upstream_date(), "endTime": upstream_date(),
    "capacity": st.one_of(st.none(), st.integers(0, 500)),
}, optional={"sid": st.text(alphabet="0123456789abcdef", min_size=4, max_size=10)})
ATTACHMENT = st.fixed_dictionaries({"attachmentUrl": st.sampled_from(
    ["https://files.example.edu/a.pdf", "files.example.edu/b", "see the syllabus", " https://x.example/c "]),
    "attachmentAwsTitle": LINE})
JSON_SCALAR = st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False,
                                                                            width=32), LINE, st.just(""))
JSON_VALUE = st.recursive(JSON_SCALAR | st.none(), lambda inner: st.lists(inner, max_size=2)
                          | st.dictionaries(LINE, inner, max_size=2), max_leaves=4)
MODALITY = st.one_of(st.none(), st.just({}), st.dictionaries(
    st.one_of(LINE, st.sampled_from(["allowPhone", "maxScreens", "camera-mode", "a\nb"])), JSON_VALUE, max_size=4))


@st.composite
def configuration(draw):
    raw = {"sid": "EC" + "1" * 32, "locked": False}
    for item in PERMITTED_ITEMS:
        raw[f"permitted{item}"] = draw(st.one_of(st.none(), st.booleans()))
        raw[f"permitted{item}Information"] = draw(TEXT)
    raw["permittedOtherItems"] = draw(TEXT)
    for key in ("examOpenDate", "examCloseDate", "scheduleOpenDate", "scheduleCloseDate"):
        raw[key] = draw(DATE)
    raw["duration"] = draw(NUMBER)
    raw["attempts"] = draw(NUMBER)
    raw["password"] = draw(st.one_of(st.none(), st.just(""), LINE, multiline()))
    raw["url"] = draw(st.one_of(st.none(), st.just(""), st.sampled_from(
        ["https://lms.example.edu/quiz/1", "lms.example.edu/q", "see the syllabus", " https://a.example/x "])))
    for key in ("requiredSoftware", "studentNotes", "proctorNotes"):
        raw[key] = draw(TEXT)
    raw["proctorTypes"] = draw(maybe_json_string(st.one_of(st.none(), st.lists(TS | ODD_TS, max_size=3))))
    raw["instructorAsProctor"] = draw(maybe_json_string(st.one_of(st.none(), st.lists(SLOT, max_size=2))))
    raw["attachments"] = draw(maybe_json_string(st.one_of(st.none(), st.lists(ATTACHMENT, max_size=2))))
    modality = draw(MODALITY)
    if isinstance(modality, dict) and modality and draw(st.booleans()):
        items = list(modality.items())
        random.Random(draw(st.integers(0, 1000))).shuffle(items)
        modality = json.dumps(dict(items), indent=draw(st.sampled_from([None, 1, 4])))
    raw["modalityOptions"] = modality
    return raw


# --- the browser -------------------------------------------------------------------------------------------------
class Browser(HTMLParser):
    """Reads a rendered form the way a browser builds its form data set (successful controls only)."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.pairs: list[tuple[str, str]] = []
        self.textarea: str | None = None
        self.textarea_text = ""
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []

    @staticmethod
    def _attr(value: str | None) -> str:
        # The HTML tokeniser turns CRLF and CR into LF before anything else happens.
        return F_.lf(unescape(value or ""))

    def handle_starttag(self, tag, attrs):
        a = {k: self._attr(v) for k, v in attrs}
        raw = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and "disabled" not in raw:
            kind = a.get("type", "text")
            if kind in ("submit", "button"):
                return
            if kind == "checkbox":
                if "checked" in raw:
                    self.pairs.append((name, a.get("value", "on")))
                return
            value = a.get("value", "")
            if kind in ("text", "password", "search"):
                value = input_text(value)  # value sanitisation: strip line breaks
            elif kind == "url":
                value = input_text(value).strip(" \t\n\f")
            elif kind == "number":
                try:
                    float(value)
                except ValueError:
                    value = ""
            self.pairs.append((name, value))
        elif tag == "textarea" and name:
            self.textarea, self.textarea_text = name, ""
        elif tag == "select" and name:
            self.select, self.options = name, []
        elif tag == "option" and self.select is not None:
            self.options.append((a.get("value", ""), "selected" in raw))

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea_text += data

    def handle_entityref(self, name):
        self.handle_data(unescape(f"&{name};"))

    def handle_charref(self, name):
        self.handle_data(unescape(f"&#{name};"))

    def handle_endtag(self, tag):
        if tag == "textarea" and self.textarea is not None:
            text = F_.lf(self.textarea_text)
            if text.startswith("\n"):
                text = text[1:]  # the newline right after <textarea> is not part of the value
            self.pairs.append((self.textarea, text))
            self.textarea = None
        elif tag == "select" and self.select is not None:
            chosen = [v for v, selected in self.options if selected] or [v for v, _ in self.options[:1]]
            self.pairs.extend((self.select, v) for v in chosen)
            self.select = None


def render(bundle) -> str:
    return render_to_string("exams/_configuration_fields.html", {"cb": bundle, "editable": True})


def submit(html: str, *, crlf: bool, edits: dict | None = None) -> QueryDict:
    browser = Browser()
    browser.feed(html)
    data = QueryDict(mutable=True)
    for name, value in browser.pairs:
        if edits and name in edits:
            continue
        data.appendlist(name, value)
    for name, value in (edits or {}).items():
        data.setlist(name, value if isinstance(value, list) else [value])
    if crlf:  # JavaScript off: the form data set's line breaks become CRLF
        for name in list(data):
            data.setlist(name, [v.replace("\n", "\r\n") for v in data.getlist(name)])
    return data


def respaced_json(data: QueryDict, seed: int) -> None:
    """A person (or an editor) reformatted the advanced JSON box: same object, other key order and spacing."""
    text = data.get("modality_options", "")
    try:
        value = json.loads(text)
    except ValueError:
        return
    if isinstance(value, dict):
        items = list(value.items())
        random.Random(seed).shuffle(items)
        data["modality_options"] = json.dumps(dict(items), indent=seed % 3 or None, separators=(", ", " :  "))


def bound(raw: dict, data: QueryDict) -> ConfigurationBundle:
    base = F_.values_of(raw)
    password = raw.get("password")
    alt = password_alt(password) if isinstance(password, str) and input_text(password) != password else ""
    return ConfigurationBundle(data, base=base, password_alt=alt)


PROPERTY = settings(max_examples=int(__import__("os").environ.get("HYPOTHESIS_EXAMPLES", "120")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@PROPERTY
@given(raw=configuration(), crlf=st.booleans(), seed=st.integers(0, 10**6))
def test_an_untouched_form_is_no_change_in_any_encoding(raw, crlf, seed):
    html = render(ConfigurationBundle(raw=raw))
    data = submit(html, crlf=crlf)
    respaced_json(data, seed)
    bundle = bound(raw, data)
    assert bundle.is_valid(), bundle.errors_by_name()
    assert F_.changes_between(F_.values_of(raw), bundle.values()) == {}


EDITS = {
    "studentNotes": ("student_notes", multiline()),
    "proctorNotes": ("proctor_notes", LINE),
    "duration": ("duration", st.integers(1, 600).map(str)),
    "attempts": ("attempts", st.integers(1, 9).map(str)),
    "permittedCalculator": ("permitted_calculator", st.sampled_from([["on"], []])),
    "permittedCalculatorInformation": ("permitted_calculator_information", LINE),
    "examOpenDate": ("exam_open_date", st.datetimes(min_value=datetime(2031, 1, 1), max_value=datetime(2031, 2, 1))
                     .map(lambda d: d.strftime("%Y-%m-%dT%H:%M"))),
    "password": ("password", LINE),
    "proctorTypes": ("proctor_types", st.lists(TS, max_size=2)),
}


@PROPERTY
@given(raw=configuration(), crlf=st.booleans(), picked=st.sets(st.sampled_from(sorted(EDITS)), min_size=1),
       data_=st.data())
def test_edits_change_exactly_the_edited_fields_and_the_put_keeps_the_rest(raw, crlf, picked, data_):
    # Keep the edited fields' neighbours valid: a window edit must not cross the upstream's close date.
    if "examOpenDate" in picked:
        raw = {**raw, "examCloseDate": None, "scheduleOpenDate": None, "scheduleCloseDate": None}
    base = F_.values_of(raw)
    html = render(ConfigurationBundle(raw=raw))
    edits = {}
    for key in picked:
        name, strategy = EDITS[key]
        edits[name] = data_.draw(strategy, label=key)
    if "proctor_types" in edits:
        edits["proctor_types_other"] = ""
    bundle = bound(raw, submit(html, crlf=crlf, edits=edits))
    assert bundle.is_valid(), bundle.errors_by_name()
    new = bundle.values()
    changes = F_.changes_between(base, new)
    expected = {key for key in picked if not F_.same(key, base[key], _edited_value(key, edits[EDITS[key][0]]))}
    if "password" in picked and input_text(raw.get("password") or "") == edits["password"]:
        # The box showed the upstream password without its line breaks; typing exactly that is no edit.
        expected.discard("password")
    assert set(changes) == expected
    body = F_.put_body(raw, changes)
    untouched = F_.put_body(raw)
    for key in F_.PUT_KEYS:
        if key not in changes:
            assert body.get(key, "<absent>") == untouched.get(key, "<absent>"), key
    for key in ("studentNotes", "proctorNotes", "requiredSoftware", "permittedOtherItems"):
        if key not in changes and isinstance(raw.get(key), str) and raw[key]:
            assert body[key] == raw[key]  # sent exactly as the upstream holds it: its own line endings
        if key in changes:
            assert "\r" not in (body[key] or "")
    if raw.get("modalityOptions") is None and "modalityOptions" not in changes:
        assert "modalityOptions" not in body  # an untouched null stays null (absent from a full replacement)


def _edited_value(key, value):
    from proctordash.core.timezones import dashboard_zone, to_utc_z

    if key == "examOpenDate":
        return to_utc_z(datetime.strptime(value, "%Y-%m-%dT%H:%M").replace(tzinfo=dashboard_zone()))
    if key == "permittedCalculator":
        return bool(value)
    if key in ("duration", "attempts"):
        return int(value)
    return value


def test_crlf_notes_and_null_modality_round_trip_examples():
    """The two cases the issue reported, spelled out."""
    raw = {"sid": "EC" + "1" * 32, "studentNotes": "Bring ID\nNo phones", "proctorNotes": "Check\r\nthe desk",
           "modalityOptions": None, "duration": 90}
    html = render(ConfigurationBundle(raw=raw))
    data = submit(html, crlf=True)
    assert data["student_notes"] == "Bring ID\r\nNo phones"  # what a browser without JavaScript sends
    bundle = bound(raw, data)
    assert bundle.is_valid()
    assert F_.changes_between(F_.values_of(raw), bundle.values()) == {}
    data = submit(html, crlf=True, edits={"duration": "100"})
    bundle = bound(raw, data)
    assert bundle.is_valid()
    changes = F_.changes_between(F_.values_of(raw), bundle.values())
    assert changes == {"duration": 100}
    body = F_.put_body(raw, changes)
    assert "modalityOptions" not in body and body["proctorNotes"] == "Check\r\nthe desk"
    assert body["duration"] == 100


def test_a_date_in_the_repeated_hour_of_a_dst_change_is_not_an_edit(settings):
    """01:30 happens twice in Chicago on the first Sunday of November: the form's wall time must not move it."""
    settings.DASHBOARD_TIME_ZONE = "America/Chicago"
    second = datetime(2031, 11, 2, 7, 30, tzinfo=timezone.utc)  # 01:30 CST, the second 01:30 of the night
    raw = {"sid": "EC" + "1" * 32, "examOpenDate": second.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
           "examCloseDate": (second + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    bundle = bound(raw, submit(render(ConfigurationBundle(raw=raw)), crlf=False))
    assert bundle.is_valid()
    assert F_.changes_between(F_.values_of(raw), bundle.values()) == {}
