"""Structured logs: JSON (or text) lines that carry the store, the job run and the web request they belong
to, and never a buyer's name, address or phone, nor a licence key, secret, password or token.

Context travels in contextvars: the job wrapper (kura.jobs.runs.run_job) sets store_id, job_kind and run_id,
the web's request-id middleware sets request_id. `PrivacyFilter` masks what a log call was handed (dict
payloads through kura.channels.rakuten.privacy.mask_personal, secret-named fields, secrets in text) before
any formatter sees it. `configure_logging()` installs both on the root logger (`kura serve|worker|scheduler`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kura.channels.rakuten.privacy import MASK, mask_personal
from kura.db import describe_exception

store_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("kura_store_id", default=None)
job_kind_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kura_job_kind", default=None)
run_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("kura_run_id", default=None)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kura_request_id", default=None)

_CONTEXT: dict[str, contextvars.ContextVar[Any]] = {
    "store_id": store_id_var,
    "job_kind": job_kind_var,
    "run_id": run_id_var,
    "request_id": request_id_var,
}


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Sets store_id / job_kind / run_id / request_id for every log line written inside the block."""
    tokens = [(_CONTEXT[name], _CONTEXT[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind_run(run_id: int | None) -> None:
    """Names the run for the rest of the current log_context (run_job learns the id after it starts)."""
    run_id_var.set(run_id)


def current_context() -> dict[str, Any]:
    return {name: var.get() for name, var in _CONTEXT.items() if var.get() is not None}


# ------------------------------------------------------------------------------------------- privacy

# Kura's own (snake_case) personal fields, beside Rakuten's camelCase ones that mask_personal knows.
_PERSONAL_KEY = re.compile(
    r"(^|_)(family_name|given_name|first_name|last_name|full_name|name_kana|family_name_kana|given_name_kana"
    r"|postal_code|zip_code|address|address_line\d*|phone|phone_number|email|mail_address|birth_date|note)$",
    re.IGNORECASE,
)
_SECRET_KEY = re.compile(
    r"(license_?key|service_?secret|secret|password|passwd|token|authorization|api_?key|cookie|session)",
    re.IGNORECASE,
)
# Secrets that show up inside text: query strings, headers, Rakuten's key formats.
_SECRET_TEXT = [
    (re.compile(r"(licenseKey|serviceSecret|license_key|service_secret|password|token)=[^&\s\"',]+", re.I),
     r"\1=" + MASK),
    (re.compile(r"\b(ESA|Bearer|Basic)\s+[A-Za-z0-9+/=._~-]{8,}"), r"\1 " + MASK),
    (re.compile(r"\bS[LP]\d{3,}_[A-Za-z0-9]{6,}\b"), MASK),  # Rakuten licence keys and service secrets
]  # fmt: skip


def mask_text(text: str) -> str:
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def mask_value(value: Any) -> Any:
    """A copy of a log argument with personal fields and secrets masked (dicts and lists at any depth)."""
    if isinstance(value, Mapping):
        masked = mask_personal(value)
        return {k: _mask_field(str(k), v) for k, v in masked.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def _mask_field(key: str, value: Any) -> Any:
    if value is None or value == "":
        return value
    if _SECRET_KEY.search(key) or _PERSONAL_KEY.search(key):
        return MASK
    return mask_value(value)


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra={...}` a log call passed."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


class PrivacyFilter(logging.Filter):
    """Masks personal data and secrets in a record's message, arguments and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access":
            _drop_query_string(record)
        if not isinstance(record.msg, str):
            record.msg = mask_value(record.msg)
        if isinstance(record.args, Mapping):
            record.args = mask_value(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(mask_value(a) for a in record.args)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it itself
            return True
        # Masked once formatted: a secret may be split between the template and its arguments.
        record.msg, record.args = mask_text(message), None
        for key, value in extra_fields(record).items():
            setattr(record, key, _mask_field(key, value))
        return True


def _drop_query_string(record: logging.LogRecord) -> None:
    # uvicorn's access line is (client, method, path?query, version, status); a search may name a buyer.
    if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
        path = record.args[2]
        if "?" in path:
            record.args = (*record.args[:2], path.split("?", 1)[0] + "?…", *record.args[3:])


# ------------------------------------------------------------------------------------------- formats


def _format_exception(ei: Any) -> str:
    exc = ei[1] if isinstance(ei, tuple) else ei
    if isinstance(exc, BaseException):
        return describe_exception(exc)  # a database error's text can quote a buyer's row: types only
    return logging.Formatter().formatException(ei)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC), level, logger, message, the context, extra fields, exc."""

    def formatException(self, ei: Any) -> str:
        return _format_exception(ei)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current_context())
        entry.update(extra_fields(record))
        if record.exc_info:
            entry["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines, with the context in brackets when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(kura_context)s %(message)s")

    def formatException(self, ei: Any) -> str:
        return _format_exception(ei)

    def format(self, record: logging.LogRecord) -> str:
        context = current_context()
        shown = (" [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]") if context else ""
        record.__dict__["kura_context"] = shown
        text = super().format(record)
        del record.__dict__["kura_context"]
        return mask_text(text) if record.exc_info else text


def make_handler(fmt: str = "text", stream: Any = None) -> logging.Handler:
    if fmt not in ("text", "json"):
        raise ValueError(f"KURA_LOG_FORMAT must be text or json, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(PrivacyFilter())
    handler.set_name("kura")
    return handler


def configure_logging(fmt: str | None = None, level: str | None = None) -> None:
    """Root logger → one stderr handler with the privacy filter; uvicorn's loggers go through it too."""
    from kura.observability import ObservabilitySettings

    settings = ObservabilitySettings()
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == "kura"]:
        root.removeHandler(existing)
    root.addHandler(make_handler(fmt or settings.log_format))
    root.setLevel((level or settings.log_level).upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "huey"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


# ------------------------------------------------------------------------------------------- web requests

_GOOD_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUEST_ID_HEADER = "X-Request-ID"


async def request_id_middleware(request: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """Takes the caller's X-Request-ID (if sane) or makes one, logs under it, and answers with it."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _GOOD_REQUEST_ID.match(given) else uuid.uuid4().hex
    token = request_id_var.set(request_id)
    try:
        response = await call_next(request)
    finally:
        request_id_var.reset(token)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response
