"""The product import under faults, crashes and a refused key; and secrets that never leak."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import select

from kura.channels.rakuten.products import StoreNeedsAttention
from kura.db import Database
from kura.jobs.runs import RunStatus
from kura.jobs.schedules import JobSchedule
from kura.stores.models import StoreStatus, SyncLogEntry
from kura.stores.service import CredentialsRejected, connect_rakuten, get_store, update_key, update_settings
from tests.sync.conftest import Sync, assert_complete, rakuten_catalog


def test_import_completes_under_5xx_429_and_timeouts(sync: Sync, new_shop: Any, db: Database, sandbox: Any) -> None:
    shop = new_shop(items=250)
    store_id = sync.connect(shop)
    for function in ("items.search", "inventories.bulk.get"):
        sandbox.admin.set_faults(function, error_5xx=0.2, error_429=0.2, timeout=0.1)
    # A timeout fault holds the request 0.5 s: the client gives up after 0.3 s and asks again.
    run = sync.run(store_id, timeout=0.3, max_retries=12)
    sandbox.admin.clear_faults()
    assert run.status == RunStatus.done, run.error
    stats = [s for s in sandbox.admin.stats() if s["function"] in ("items.search", "inventories.bulk.get")
             and s["license_key"] == shop["license_key"]]
    assert sum(s["faults"] for s in stats) > 0, stats or "no fault was injected; the test proves nothing"
    with sync.client(store_id) as client:
        assert_complete(db, store_id, rakuten_catalog(client))
    with db.reader() as s:
        failed_calls = s.scalars(select(SyncLogEntry).where(SyncLogEntry.kind == "call",
                                                            SyncLogEntry.level != "info")).all()  # fmt: skip
    assert failed_calls, "retried calls are in the sync log"


def test_a_crashed_import_resumes_from_the_last_committed_page(sync: Sync, new_shop: Any, db: Database) -> None:
    shop = new_shop(items=250)  # three pages of 100
    store_id = sync.connect(shop)

    def crash(page: int) -> None:
        if page == 2:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        sync.run(store_id, on_page=crash)
    resumed = sync.run(store_id)
    assert resumed.status == RunStatus.done
    assert resumed.counts is not None and resumed.counts.get("resumed_from") and resumed.counts["items"] == 50
    assert resumed.progress_done == 250
    with sync.client(store_id) as client:
        assert_complete(db, store_id, rakuten_catalog(client))
    fresh = sync.run(store_id)  # after a finished import the next one starts from the beginning
    assert fresh.counts is not None and fresh.counts["items"] == 250 and "resumed_from" not in fresh.counts


def test_a_401_marks_the_store_and_pauses_its_jobs_until_the_key_is_updated(
    sync: Sync, new_shop: Any, db: Database, sandbox: Any
) -> None:
    shop = new_shop(items=20)
    store_id = sync.connect(shop)
    with db.transaction() as s:
        update_settings(s, store_id, {"intervals": {"rakuten.import_products": 3600}})
    sandbox.admin.set_license(shop["shop_url"], expires_at="2020-01-01T00:00:00+09:00")
    with pytest.raises(StoreNeedsAttention):
        sync.run(store_id)
    with db.reader() as s:
        store = get_store(s, store_id)
        assert store.status == StoreStatus.needs_attention and "401" in (store.status_reason or "")
        assert s.scalars(select(JobSchedule.enabled).where(JobSchedule.store_id == store_id)).all() == [False]
    with pytest.raises(CredentialsRejected):
        update_key(db, store_id, shop["license_key"], limiter=sync.limiter)  # the old key is still refused
    renewed = sandbox.admin.set_license(shop["shop_url"], issue_new=True)
    update_key(db, store_id, renewed["license_key"], limiter=sync.limiter)
    with db.reader() as s:
        store = get_store(s, store_id)
        assert store.status == StoreStatus.active and store.license_expires_at is not None
        assert s.scalars(select(JobSchedule.enabled).where(JobSchedule.store_id == store_id)).all() == [True]
    assert sync.run(store_id).status == RunStatus.done


def test_bad_credentials_save_nothing(sync: Sync, new_shop: Any, db: Database, sandbox: Any) -> None:
    shop = new_shop(items=1)
    with pytest.raises(CredentialsRejected):
        connect_rakuten(db, name="wrong", shop_url=f"https://www.rakuten.co.jp/{shop['shop_url']}/",
                        license_key="SL000_wrong", service_secret=shop["service_secret"],
                        api_base_url=sandbox.base_url, limiter=sync.limiter)  # fmt: skip
    from kura.stores.models import Store

    with db.reader() as s:
        assert s.scalars(select(Store)).all() == []


def test_secrets_never_reach_logs_or_the_sync_log(sync: Sync, new_shop: Any, db: Database, sandbox: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    shop = new_shop(items=15)
    store_id = sync.connect(shop)
    sync.run(store_id)
    sandbox.admin.set_license(shop["shop_url"], expires_at="2020-01-01T00:00:00+09:00")
    with pytest.raises(StoreNeedsAttention):
        sync.run(store_id)
    with db.reader() as s:
        rows = s.scalars(select(SyncLogEntry)).all()
        dumped = json.dumps([[r.message, r.hint, r.request, r.response, r.retry] for r in rows], ensure_ascii=False)
        store = get_store(s, store_id)
        stored = f"{store.license_key_enc} {store.service_secret_enc} {store.license_key_hint}"
    assert any(r.function == "license.expiryDate.get" for r in rows) or rows
    for secret in (shop["license_key"], shop["service_secret"]):
        assert secret not in caplog.text
        assert secret not in dumped
        assert secret not in stored
