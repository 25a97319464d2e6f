"""Failure injection for the sandbox ERP API, driven by the persisted SandboxSettings row."""

import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, jsonify
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import SandboxSettings, utcnow
from webapp.sandbox.caller import hold

SETTINGS_ID = 1
CACHE_TTL_S = 1.0
MAX_LATENCY_MS = 30_000
MAX_RETRY_AFTER_S = 600
MAX_MISSING_KEYS_CHARS = 10_000
RATE_FIELDS = ("error_rate", "timeout_rate", "throttle_rate")
AUDIT_KEYS, AUDIT_KEY_CHARS = 5, 40
CALM: dict[str, Any] = {
    "latency_ms": 0,
    "error_rate": 0.0,
    "timeout_rate": 0.0,
    "throttle_rate": 0.0,
    "retry_after_s": 0,
    "missing_keys": "",
}
FIELD_LABELS = {
    "latency_ms": "Latency",
    "error_rate": "Error rate",
    "timeout_rate": "Timeout rate",
    "throttle_rate": "Throttle rate",
    "retry_after_s": "Retry-After",
    "missing_keys": "Missing keys",
}
HUNG_UP = 499  # what nginx logs for a request whose client closed the connection; nobody reads it
KEY_SEPARATORS = re.compile(r"[\s,]+")
COLUMNS = tuple(column.key for column in SandboxSettings.__table__.columns)


@dataclass(frozen=True)
class Snapshot:
    """Settings as read at ``loaded_at``; never attached to a session, so safe to share between threads."""

    settings: SandboxSettings
    missing: frozenset[str]
    loaded_at: float


class SettingsCache:
    """One app's settings snapshot, re-read from the database at most once per TTL."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.snapshot: Snapshot | None = None

    def get(self, ttl: float) -> Snapshot:
        """The current snapshot, re-read when older than ``ttl`` seconds."""
        with self.lock:
            now = time.monotonic()
            if self.snapshot is None or now - self.snapshot.loaded_at >= ttl:
                row = settings_row()
                copy = SandboxSettings(**{column: getattr(row, column) for column in COLUMNS})
                self.snapshot = Snapshot(copy, frozenset(copy.missing_set()), now)
            return self.snapshot

    def clear(self) -> None:
        """Forget the snapshot so the next request reads the database."""
        with self.lock:
            self.snapshot = None


def cache() -> SettingsCache:
    """The settings cache of the current app (per app, so test apps never share one)."""
    return current_app.extensions.setdefault("sandbox_settings_cache", SettingsCache())


def settings_row() -> SandboxSettings:
    """The persistent settings row, created with the model's (calm) defaults if it does not exist yet."""
    row = db.session.get(SandboxSettings, SETTINGS_ID)
    if row is not None:
        return row
    db.session.add(SandboxSettings(id=SETTINGS_ID))
    try:
        db.session.commit()
    except IntegrityError:  # another process created it first: use theirs
        db.session.rollback()
    return db.session.execute(db.select(SandboxSettings).filter_by(id=SETTINGS_ID)).scalar_one()


def load_settings() -> SandboxSettings:
    """The current settings, a read-only snapshot at most a second old (so API load doesn't hit the DB per call)."""
    return cache().get(current_app.config.get("SANDBOX_SETTINGS_TTL", CACHE_TTL_S)).settings


def settings_dict(settings: SandboxSettings) -> dict[str, Any]:
    """The settings as JSON-ready values, missing keys as a sorted list."""
    return {
        "latency_ms": settings.latency_ms,
        "error_rate": settings.error_rate,
        "timeout_rate": settings.timeout_rate,
        "throttle_rate": settings.throttle_rate,
        "retry_after_s": settings.retry_after_s,
        "missing_keys": sorted(settings.missing_set()),
        "updated_at": settings.updated_at.isoformat() + "Z" if settings.updated_at else None,
        "updated_by": settings.updated_by,
    }


def parse_int(value: object, low: int, high: int) -> int | None:
    """``value`` as a whole number in [low, high], or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,6}\s*", value):
        value = int(value)
    return value if isinstance(value, int) and low <= value <= high else None


def parse_rate(value: object) -> float | None:
    """``value`` as a fraction in [0, 1], or None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        rate = float(value)
    except ValueError:
        return None
    return rate if math.isfinite(rate) and 0.0 <= rate <= 1.0 else None


def normalise_keys(value: object) -> str | None:
    """Keys separated by commas, spaces or newlines as sorted, unique, upper-case lines; None if unusable."""
    if isinstance(value, (list, tuple)) and all(isinstance(key, str) for key in value):
        value = "\n".join(value)
    if not isinstance(value, str) or len(value) > MAX_MISSING_KEYS_CHARS:
        return None
    return "\n".join(sorted({key.upper() for key in KEY_SEPARATORS.split(value) if key}))


# Each field: its parser (None means invalid) and what a valid value looks like, in words.
CHECKS: dict[str, tuple[Callable[[object], Any], str]] = {
    "latency_ms": (
        lambda v: parse_int(v, 0, MAX_LATENCY_MS),
        f"must be a whole number of milliseconds from 0 to {MAX_LATENCY_MS}",
    ),
    "retry_after_s": (
        lambda v: parse_int(v, 0, MAX_RETRY_AFTER_S),
        f"must be a whole number of seconds from 0 to {MAX_RETRY_AFTER_S}",
    ),
    "missing_keys": (
        normalise_keys,
        f"must be keys separated by commas or new lines, at most {MAX_MISSING_KEYS_CHARS:,} characters",
    ),
    **{field: (parse_rate, "must be a number from 0 to 1, e.g. 0.25 for one call in four") for field in RATE_FIELDS},
}


def validate(data: Mapping[str, Any], current: SandboxSettings) -> tuple[dict[str, Any], dict[str, str]]:
    """Check the submitted fields (absent ones keep ``current``); return clean values and errors per field."""
    values = {field: getattr(current, field) for field in CALM}
    errors: dict[str, str] = {}
    for field, (parse, message) in CHECKS.items():
        if field in data:
            clean = parse(data[field])
            if clean is None:
                errors[field] = f"{FIELD_LABELS[field]} {message}."
            else:
                values[field] = clean
    total = sum(values[field] for field in RATE_FIELDS)
    if not errors.keys() & set(RATE_FIELDS) and total > 1.0 + 1e-9:
        for field in RATE_FIELDS:
            if values[field] > 0:
                errors[field] = f"Error, timeout and throttle rates add up to {total:g}, more than 1 (every call)."
    return values, errors


def audit_text(settings: SandboxSettings) -> str:
    """The saved settings for the audit trail: the known fields only, missing keys counted and a few shown.

    Never the submitted body: an API caller could otherwise write anything, of any size, into the trail.
    """
    values = settings_dict(settings)
    missing: list[str] = values["missing_keys"]
    parts = [f"{field}={values[field]}" for field in CALM if field != "missing_keys"]
    shown = ", ".join(key[:AUDIT_KEY_CHARS] for key in missing[:AUDIT_KEYS])
    more = f" and {len(missing) - AUDIT_KEYS} more" if len(missing) > AUDIT_KEYS else ""
    parts.append(f"missing_keys={len(missing)} ({shown}{more})" if missing else "missing_keys=none")
    return ", ".join(parts)


def update_settings(
    data: Mapping[str, Any], operator_name: str | None
) -> tuple[SandboxSettings | None, dict[str, str]]:
    """Validate and save the submitted settings; on any error save nothing and return the errors per field."""
    row = settings_row()
    values, errors = validate(data, row)
    if errors:
        return None, errors
    for field, value in values.items():
        setattr(row, field, value)
    row.updated_at = utcnow()
    row.updated_by = operator_name
    db.session.commit()
    cache().clear()
    return row, {}


def json_error(status: int, message: str) -> Response:
    """A JSON error body ``{"error": message}`` with ``status``."""
    response = jsonify(error=message)
    response.status_code = status
    return response


def apply_chaos(key: str | None) -> Response | None:
    """Delay, then maybe fail this API call as the settings say; None means answer normally."""
    snapshot = cache().get(current_app.config.get("SANDBOX_SETTINGS_TTL", CACHE_TTL_S))
    settings = snapshot.settings
    if not hold(settings.latency_ms / 1000):
        return json_error(HUNG_UP, "the caller hung up")
    # Missing keys are permanent: decided before the draw, so retrying never helps.
    if key is not None and key.upper() in snapshot.missing:
        return json_error(404, f"{key} not found")
    draw = random.random()
    if draw < settings.error_rate:
        return json_error(random.choice((500, 502, 503)), "upstream unavailable")
    if draw < settings.error_rate + settings.timeout_rate:
        hold(current_app.config.get("SANDBOX_TIMEOUT_SLEEP", 30))
        return json_error(504, "upstream timed out")
    if draw < settings.error_rate + settings.timeout_rate + settings.throttle_rate:
        response = json_error(429, "too many requests")
        response.headers["Retry-After"] = str(settings.retry_after_s)
        return response
    return None
