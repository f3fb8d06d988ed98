"""What an Ed-Fi document must be before ImportEdFi stores any of it (interop.py reads it after).

Three passes, each reporting every problem with the path of the offending value
(json.interventions[0]._ext.learnflow.schedule.timeZone) and all raised together as INVALID_ARGUMENT:

1. values no column can hold, wherever they are: a string with NUL or an unpaired surrogate
   (PostgreSQL refuses both in text and JSONB) and a number that is not finite (1e400 parses as inf,
   NaN as nan);
2. shapes, types and ranges: a JSON Schema (Draft 2020-12) of what export_edfi writes, with the
   request's bounds (lengths, 0-3000 minutes a week, int4 ids, scores within ±MAX_SCORE), checked
   by jsonschema-rs and explained by jsonschema when it fails, as the interventions context does
   with its policies;
3. what a schema cannot say: dates within programs.EARLIEST_DATE..LATEST_DATE, time zones
   (zones.zone_named), RRULEs, sessions that are instants with offsets lasting 5-480 minutes,
   attendance naming a session of its intervention, once per student.
"""

from __future__ import annotations

import functools
import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jsonschema

from services.mtss.domain import programs as p
from services.mtss.domain.interop import CATEGORIES, CATEGORY
from services.mtss.domain.schedule import MAX_DURATION, MAX_SESSIONS, MIN_DURATION, rule_problem
from services.runtime.errors import FieldViolation, InvalidArgument, Violations
from services.runtime.zones import zone_named

MAX_VIOLATIONS = 20  # a reply names this many; the rest are counted
INT4 = 2**31 - 1
DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIME = "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _text(limit: int, *, required: bool = False) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit, **({"minLength": 1} if required else {})}


def _int(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": sorted(properties), "properties": properties}


_DATE = {"type": "string", "pattern": DATE}
_DATES = {"type": "array", "maxItems": 400, "items": _DATE}
_SCORE = {"type": "number", "minimum": -p.MAX_SCORE, "maximum": p.MAX_SCORE}
_INSTANT = _text(40, required=True)
_REF = _object({"interventionIdentificationCode": _text(60, required=True)})
_STUDENT = _object({"studentUniqueId": _text(64, required=True)})

INTERVENTION = _object(
    {
        "interventionIdentificationCode": _text(60, required=True),
        "interventionClassDescriptor": _text(300),
        "deliveryMethodDescriptor": _text(300),
        "beginDate": _DATE,
        "endDate": _DATE,
        "minDosage": _int(0, 3000),
        "staffs": {"type": "array", "maxItems": 20, "items": _object({
            "staffReference": _object({"staffUniqueId": _text(64, required=True)}),
        })},
        "_ext": _object({"learnflow": _object({
            "name": _text(p.MAX_NAME, required=True),
            "objectives": {"type": "array", "maxItems": 20, "items": _text(p.MAX_NAME)},
            "targetPopulation": _text(p.MAX_TEXT),
            "ownerId": _text(64),
            "room": _text(p.MAX_NAME),
            "template": _object({"key": _text(64, required=True), "version": _int(1, INT4)}),
            "goal": _object({
                "measure": _text(p.MAX_NAME), "baseline": _SCORE, "target": _SCORE, "goalDate": _DATE,
            }),
            "exitCriteria": _object({"pointsAtGoal": _int(0, 20), "minWeeks": _int(0, 52)}),
            "schedule": _object({
                "rrule": _text(500, required=True),
                "startTime": {"type": "string", "pattern": TIME},
                "durationMinutes": _int(MIN_DURATION, MAX_DURATION),
                "timeZone": _text(64, required=True),
                "holidays": _DATES,
                "exceptions": _DATES,
                "extraDates": _DATES,
            }),
            "sessions": {"type": "array", "maxItems": MAX_SESSIONS, "items": _object({
                "start": _INSTANT,
                "end": _INSTANT,
                "localDate": _DATE,
                "room": _text(p.MAX_NAME),
                "facilitatorId": _text(64),
                "status": _text(20),
                "note": _text(p.MAX_TEXT),
            })},
        })}),
    }
)  # fmt: skip

ASSOCIATION = _object(
    {
        "interventionReference": _REF,
        "studentReference": _STUDENT,
        "diagnosticStatement": _text(1024),
        "_ext": _object({"learnflow": _object({
            "source": _text(20),
            "enrolledBy": _text(64),
            "beginDate": _DATE,
            "endDate": {"type": ["string", "null"], "pattern": "^$|" + DATE},
            "status": {"enum": ["active", "withdrawn", "exited"]},
            "exitConfirmedBy": _text(64),
            "exitReason": _text(1000),
        })}),
    }
)  # fmt: skip

EVENT = _object(
    {
        "attendanceEventCategoryDescriptor": {"enum": [CATEGORY + c for c in CATEGORIES.values()]},
        "interventionReference": _REF,
        "studentReference": _STUDENT,
        "attendanceEventReason": _text(p.MAX_TEXT),
        "interventionDuration": _int(0, MAX_DURATION),
        "_ext": _object({"learnflow": _object({
            "sessionStart": _INSTANT,
            "reasonCode": _text(64),
            "recordedBy": _text(64),
        })}),
    }
)  # fmt: skip

SCHEMA = _object(
    {
        "interventions": {"type": "array", "items": INTERVENTION},
        "studentInterventionAssociations": {"type": "array", "items": ASSOCIATION},
        "studentInterventionAttendanceEvents": {"type": "array", "items": EVENT},
    }
) | {"$schema": "https://json-schema.org/draft/2020-12/schema"}


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA)


@functools.cache
def _fast_validator() -> Any:
    """jsonschema-rs answers "valid?" for a year of attendance in milliseconds; jsonschema explains."""
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(SCHEMA)


def read_export(text: str) -> dict[str, Any]:
    """The document in `text`, checked by the three passes; InvalidArgument naming every problem
    (the first MAX_VIOLATIONS of them) otherwise."""
    v = Violations()
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as err:
        v.add("json", f"is not JSON: {err}"[:300])
        v.raise_if_any("not an Ed-Fi export")
    _storable(v, doc)
    if not v.items and not _fast_validator().is_valid(doc):
        for error in sorted(_validator().iter_errors(doc), key=lambda e: _path(e.absolute_path))[:100]:
            _schema_violation(v, error)
    if not v.items:
        _meaning(v, doc)
    if v.items:
        shown = v.items[:MAX_VIOLATIONS]
        if len(v.items) > MAX_VIOLATIONS:
            shown.append(FieldViolation("json", f"and {len(v.items) - MAX_VIOLATIONS} more problems"))
        raise InvalidArgument("the Ed-Fi document cannot be imported; nothing was imported", shown)
    return doc


def _path(parts: Any) -> str:
    out = "json"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _storable(v: Violations, doc: Any) -> None:
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(doc, ())]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if _UNSTORABLE.search(node):
                v.add(_path(where), "contains a NUL character or an unpaired surrogate (\\ud800-\\udfff)")
        elif isinstance(node, float):
            if not math.isfinite(node):
                v.add(_path(where), "must be a finite number (not NaN, Infinity or beyond ±1.8e308)")
        elif isinstance(node, dict):
            stack.extend((value, (*where, key)) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, (*where, i)) for i, value in enumerate(node))


def _schema_violation(v: Violations, e: jsonschema.ValidationError) -> None:
    where = _path(e.absolute_path)
    rule, limit = e.validator, e.validator_value
    if rule == "required":  # one error per missing property, named in its message
        missing = re.findall(r"^'([^']+)' is a required property", e.message)
        v.add(f"{where}.{missing[0]}" if missing else where, "is required")
    elif rule == "type":
        kinds = " or ".join(limit) if isinstance(limit, list) else limit
        v.add(where, f"must be {kinds}")
    elif rule == "minLength":
        v.add(where, "must not be empty")
    elif rule == "maxLength":
        v.add(where, f"must be at most {limit} characters")
    elif rule == "maxItems":
        v.add(where, f"must have at most {limit} items")
    elif rule == "minimum":
        v.add(where, f"must be at least {limit:g}")
    elif rule == "maximum":
        v.add(where, f"must be at most {limit:g}")
    elif rule == "enum":
        v.add(where, "must be one of " + ", ".join(str(x) for x in limit))
    elif rule == "pattern":
        v.add(where, "must be a time HH:MM" if limit == TIME else "must be a date YYYY-MM-DD")
    else:
        v.add(where, e.message[:200])


def _day(v: Violations, text: str, where: str) -> date | None:
    try:
        found = date.fromisoformat(text)
    except ValueError:
        v.add(where, "must be a date YYYY-MM-DD")
        return None
    return found if p.check_date(v, found, where) else None


def _instant(v: Violations, text: str, where: str) -> datetime | None:
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        found = None
    if found is None or found.utcoffset() is None:
        v.add(where, "must be a date and time with its UTC offset (2026-09-07T13:00:00+00:00)")
        return None
    return found.astimezone(UTC) if p.check_date(v, found.date(), where) else None


def _meaning(v: Violations, doc: dict[str, Any]) -> None:
    starts: dict[str, set[datetime]] = {}
    for n, d in enumerate(doc["interventions"]):
        at = f"json.interventions[{n}]"
        x = d["_ext"]["learnflow"]
        ext, s = f"{at}._ext.learnflow", x["schedule"]
        begin, end = _day(v, d["beginDate"], f"{at}.beginDate"), _day(v, d["endDate"], f"{at}.endDate")
        if begin and end and end < begin:
            v.add(f"{at}.endDate", "must not be before beginDate")
        _day(v, x["goal"]["goalDate"], f"{ext}.goal.goalDate")
        if zone_named(s["timeZone"]) is None:
            v.add(f"{ext}.schedule.timeZone", "must be an IANA time zone such as America/New_York")
        problem = rule_problem(s["rrule"])
        if problem:
            v.add(f"{ext}.schedule.rrule", problem)
        for name in ("holidays", "exceptions", "extraDates"):
            for i, text in enumerate(s[name]):
                _day(v, text, f"{ext}.schedule.{name}[{i}]")
        code = d["interventionIdentificationCode"]
        if code in starts:
            v.add(f"{at}.interventionIdentificationCode", f"{code} appears twice in the document")
        mine = starts.setdefault(code, set())
        for i, r in enumerate(x["sessions"]):
            where = f"{ext}.sessions[{i}]"
            start, stop = _instant(v, r["start"], f"{where}.start"), _instant(v, r["end"], f"{where}.end")
            _day(v, r["localDate"], f"{where}.localDate")
            if start and stop and not MIN_DURATION <= (stop - start) / timedelta(minutes=1) <= MAX_DURATION:
                v.add(f"{where}.end", f"must be {MIN_DURATION} to {MAX_DURATION} minutes after start")
            if start:
                mine.add(start)
    for n, a in enumerate(doc["studentInterventionAssociations"]):
        x, at = a["_ext"]["learnflow"], f"json.studentInterventionAssociations[{n}]._ext.learnflow"
        _day(v, x["beginDate"], f"{at}.beginDate")
        if x["endDate"]:
            _day(v, x["endDate"], f"{at}.endDate")
    seen: dict[tuple[str, datetime, str], int] = {}
    for n, ev in enumerate(doc["studentInterventionAttendanceEvents"]):
        at = f"json.studentInterventionAttendanceEvents[{n}]"
        code = ev["interventionReference"]["interventionIdentificationCode"]
        start = _instant(v, ev["_ext"]["learnflow"]["sessionStart"], f"{at}._ext.learnflow.sessionStart")
        if start is None or code not in starts:
            continue  # an intervention this document does not carry is not imported
        if start not in starts[code]:
            v.add(f"{at}._ext.learnflow.sessionStart", f"is not the start of a session of {code}")
            continue
        key = (code, start, ev["studentReference"]["studentUniqueId"])
        if key in seen:
            v.add(f"{at}.studentReference", f"the same student at the same session as [{seen[key]}]")
        seen.setdefault(key, n)
