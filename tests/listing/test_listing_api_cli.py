"""Listing from the API and the CLI, against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kura.catalog.service import create_single
from kura.db import Database
from rms_sandbox.testing import RunningSandbox
from tests.listing.conftest import fields, rms, unique


def _product(db: Database, code: str, **kw: Any) -> int:
    with db.transaction() as s:
        return create_single(s, code, fields("API商品", 1500, **kw)).id


def test_the_api_lists_hides_and_deletes(api: TestClient, db: Database, sandbox: RunningSandbox,
                                         store_id: int) -> None:  # fmt: skip
    code = unique("API")
    product_id = _product(db, code)

    created = api.post(f"/api/v1/products/{product_id}/listings", json={"store_id": store_id})
    assert created.status_code == 201, created.text
    assert created.json()["manage_number"] == code.lower() and created.json()["listed"]
    again = api.post(f"/api/v1/products/{product_id}/listings", json={"store_id": store_id})
    assert again.status_code == 200 and not again.json()["created"]

    hidden = api.patch(f"/api/v1/products/{product_id}/listings/{store_id}", json={"hidden": True})
    assert hidden.status_code == 200 and hidden.json()[0]["hidden"] is True
    assert rms(sandbox).get_item(code.lower())["hideItem"] is True
    assert api.get(f"/api/v1/products/{product_id}/listings").json()[0]["manage_number"] == code.lower()

    assert api.delete(f"/api/v1/products/{product_id}/listings/{store_id}").status_code == 204
    assert api.get(f"/api/v1/products/{product_id}/listings").json() == []


def test_the_api_answers_a_refused_listing_with_every_field_and_fix(api: TestClient, db: Database,
                                                                    store_id: int) -> None:  # fmt: skip
    product_id = _product(db, unique("GENRE"), attributes={"genre_id": "99"})
    response = api.post(f"/api/v1/products/{product_id}/listings", json={"store_id": store_id})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid" and body["details"]["field"] == "genre_id"
    (problem,) = body["details"]["problems"]
    assert problem["property_path"] == "genreId" and problem["code"] == "IE0146" and "6-digit" in problem["fix"]


def test_a_rakuten_outage_is_a_502(api: TestClient, db: Database, sandbox: RunningSandbox, store_id: int) -> None:
    product_id = _product(db, unique("DOWN"))
    sandbox.admin.set_faults("items.get", maintenance=True)
    try:
        from kura.stores.service import client_for, set_client_factory

        set_client_factory(lambda store, database: client_for(store, database, max_retries=0))
        response = api.post(f"/api/v1/products/{product_id}/listings", json={"store_id": store_id})
    finally:
        sandbox.admin.clear_faults()
    assert response.status_code == 502 and response.json()["code"] == "rakuten_unavailable"


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from kura.cli import app
    from kura.config import get_settings

    monkeypatch.setenv("KURA_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


def test_the_cli_lists_hides_and_delists(cli: Any, db: Database, sandbox: RunningSandbox, store_id: int) -> None:
    code = unique("CLI")
    _product(db, code)
    listed = cli("products", "list-on", "--store", str(store_id), code)
    assert listed.exit_code == 0, listed.output
    assert "created" in listed.output
    assert cli("products", "hide", "--store", str(store_id), code).exit_code == 0
    assert rms(sandbox).get_item(code.lower())["hideItem"] is True
    assert cli("products", "unhide", "--store", str(store_id), code).exit_code == 0
    assert cli("products", "delist", "--store", str(store_id), "--yes", code).exit_code == 0
    bad = cli("products", "list-on", "--store", str(store_id), unique("ＢＡＤ"))
    assert bad.exit_code == 1 and "No product" in bad.output
