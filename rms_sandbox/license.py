"""LicenseManagementAPI: the licence-key expiry endpoint, and issuing keys for sandbox shops."""

from __future__ import annotations

import secrets
import sqlite3
import string

from starlette.responses import Response

from rms_sandbox.core import Ctx
from rms_sandbox.errors import ItemApiError, json_response
from rms_sandbox.timefmt import item_dt

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def issue_key(conn: sqlite3.Connection, shop_id: int, now: float, ttl_days: int, key: str | None = None) -> str:
    """Issues a licence key valid for `ttl_days` (older keys keep working until their own expiry [T])."""
    key = key or f"SL{shop_id}_{random_token(24)}"
    conn.execute("INSERT INTO license_keys (license_key, shop_id, issued, expires) VALUES (?, ?, ?, ?)",
                 (key, shop_id, now, now + ttl_days * 86400))
    return key


def expiry_date(ctx: Ctx) -> Response:
    """GET /es/1.0/license-management/license-key/expiry-date?licenseKey=… → {"expiryDate": …}.

    [T] path and field (JakeJP); the date format and the error shape are [U]: `+09:00` ISO and the
    Item/Inventory error envelope are used."""
    key = dict(ctx.query).get("licenseKey")
    if not key:
        raise ItemApiError.one(400, "IE0001", "licenseKey is mandatory.", "licenseKey")
    row = ctx.sb.store.one("SELECT expires FROM license_keys WHERE license_key = ? AND shop_id = ?",
                           (key, ctx.shop_id))
    if row is None:
        raise ItemApiError.one(404, "GE0014", "Not found for inputs; licenseKey")
    return json_response({"expiryDate": item_dt(row["expires"])})
