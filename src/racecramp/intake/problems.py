"""Problem details: every 4xx the intake sends names the field, the value and what was expected.

A problem is {"type", "loc", "field", "msg"}; `msg` reads `reports[1].km=-1: ...`. Text put
into an answer is made safe for UTF-8 JSON (unpaired surrogates escaped).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi import HTTPException
from pydantic import TypeAdapter, ValidationError

from racecramp.domain import CODE_WORDS, MASKED, PATTERN_WORDS
from racecramp.intake.models import MAX_BATCH_RECORDS
from racecramp.landing.kinds import KINDS

# Fields where free text could carry a name (landing.kinds: personal), and what they expect in
# words; over HTTP a weather location is a code too (intake.models.WeatherIn).
PERSONAL_WORDS = {c.name: PATTERN_WORDS.get(c.pattern, c.constraint_words()) for k in KINDS.values() for c in k.columns
                  if c.personal} | {"location": CODE_WORDS}


def masked(value: Any) -> str:
    """What is shown of a value that may hold a name: its length only."""
    return MASKED.format(n=len(str(value)))


def clean(text: str) -> str:
    """Text safe to put in a UTF-8 JSON answer (unpaired surrogates escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('reports', 3, 'km') -> 'reports[3].km'; the body itself is 'body'."""
    path = ""
    for part in loc:
        if part == "body" and not path:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + clean(str(part))
    return path or "body"


def shown_value(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        text = str(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value if len(value) <= 80 else value[:77] + "..."
        return clean(repr(text))
    return None


def _field_name(loc: tuple[Any, ...]) -> str | None:
    names = [p for p in loc if isinstance(p, str)]
    return names[-1] if names else None


def problem(loc: tuple[Any, ...], msg: str, type_: str, value: Any = ...) -> dict[str, Any]:
    """A problem naming the field and its value; a value that may hold a name is masked, never echoed."""
    path = field_path(loc)
    field = _field_name(loc)
    if field in PERSONAL_WORDS and value is not ... and value is not None:
        shown = masked(value)
        msg = f"expected {PERSONAL_WORDS[field]}" if type_ in ("string_pattern_mismatch", "string_too_long") else msg
    else:
        shown = None if value is ... else shown_value(value)
    text = f"{path}={shown}: {msg}" if shown is not None else f"{path}: {msg}"
    return {"type": type_, "loc": [p if isinstance(p, int) else clean(str(p)) for p in loc], "field": path, "msg": clean(text)}


def pydantic_problems(errors: list[dict[str, Any]], prefix: tuple[Any, ...] = ("body",)) -> list[dict[str, Any]]:
    problems = []
    for err in errors:
        loc = prefix + tuple(err["loc"])
        if err["type"] == "missing":
            problems.append(problem(loc, "field required", "missing"))
        else:
            problems.append(problem(loc, err["msg"], err["type"], err.get("input", ...)))
    return problems


def unprocessable(problems: list[dict[str, Any]]) -> HTTPException:
    return HTTPException(status_code=422, detail=problems)


def validate_body(adapter: TypeAdapter[Any], data: Any) -> Any:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise unprocessable(pydantic_problems(exc.errors(include_url=False))) from None


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is too large")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise unprocessable([problem(("body",), "empty body: expected a JSON object", "json_invalid")])
    try:
        data = json.loads(body, parse_float=_finite_float, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise unprocessable(
            [problem(("body",), f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", "json_invalid")]
        ) from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8, NaN/Infinity, absurd numbers or nesting
        raise unprocessable([problem(("body",), f"not valid JSON: {exc}", "json_invalid")]) from None
    if _LONE_SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise unprocessable(
                [problem(("body",), "text contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)", "json_invalid")]
            ) from None
    return data


def too_many(field: str, items: Any) -> None:
    if isinstance(items, list) and len(items) > MAX_BATCH_RECORDS:
        raise HTTPException(
            status_code=413,
            detail=f"{field}: {len(items)} records in one request; at most {MAX_BATCH_RECORDS} are accepted, split the batch",
        )
