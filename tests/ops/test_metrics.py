"""/metrics: the named metrics are there and move when RMS is called, a job runs, a push lands, a store fails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from kura.channels.rakuten.client import RmsClient
from kura.config import Settings
from kura.db import Database
from kura.jobs.queue import enqueue, make_huey
from kura.jobs.runs import run_job
from kura.observability.metrics import REGISTRY, record_push, record_rms_call
from kura.stores.models import Channel, Store, StoreStatus
from tests.ops.conftest import client_for

NAMED = (
    "kura_queue_depth",
    "kura_job_duration_seconds",
    "kura_rms_calls",
    "kura_rms_call_duration_seconds",
    "kura_push_latency_seconds",
    "kura_stores_needing_attention",
)


def scrape(client: TestClient, **headers: str) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(response.text):
        families[family.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
    return families


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_exposes_every_named_metric_without_signing_in(client: TestClient) -> None:
    families = scrape(client)
    for name in NAMED:
        assert name in families, f"{name} missing from /metrics"
    assert families["kura_queue_depth"][("kura_queue_depth", ())] == 0
    assert families["kura_stores_needing_attention"][("kura_stores_needing_attention", ())] == 0


def test_an_rms_call_is_counted_by_function_and_outcome(client: TestClient) -> None:
    answers = iter([httpx.Response(429, json={"errors": [{"code": "GA0429"}]}), httpx.Response(200, json={})])
    rms = RmsClient(
        "https://rms.test", "SP1_secret", "SL1_license", store_key="shop-1", on_call=record_rms_call,
        transport=httpx.MockTransport(lambda request: next(answers)), sleep=lambda s: None,
    )  # fmt: skip
    ok_before = sample("kura_rms_calls_total", function="items.get", outcome="ok")
    throttled_before = sample("kura_rms_calls_total", function="items.get", outcome="throttled")
    with rms:
        rms.get_item("mug-1")
    assert sample("kura_rms_calls_total", function="items.get", outcome="ok") == ok_before + 1
    assert sample("kura_rms_calls_total", function="items.get", outcome="throttled") == throttled_before + 1
    families = scrape(client)
    key = ("kura_rms_calls_total", (("function", "items.get"), ("outcome", "ok")))
    assert families["kura_rms_calls"][key] == ok_before + 1
    assert sample("kura_rms_call_duration_seconds_count", function="items.get") >= 2


def test_a_job_run_is_recorded_by_kind_and_outcome(client: TestClient, db: Database) -> None:
    before_done = sample("kura_job_duration_seconds_count", kind="ops.metrics", outcome="done")
    before_failed = sample("kura_job_duration_seconds_count", kind="ops.metrics", outcome="failed")
    run_job(db, "ops.metrics", 3, lambda store_id, progress: {"n": 1})

    def broken(store_id: int | None, progress: object) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_job(db, "ops.metrics", 3, broken)
    families = scrape(client)
    done = ("kura_job_duration_seconds_count", (("kind", "ops.metrics"), ("outcome", "done")))
    failed = ("kura_job_duration_seconds_count", (("kind", "ops.metrics"), ("outcome", "failed")))
    assert families["kura_job_duration_seconds"][done] == before_done + 1
    assert families["kura_job_duration_seconds"][failed] == before_failed + 1


def test_push_latency_is_observed_from_the_change_to_the_push() -> None:
    before = sample("kura_push_latency_seconds_sum", kind="stock")
    pushed = dt.datetime(2026, 5, 1, 12, 0, 30, tzinfo=dt.UTC)
    record_push("stock", pushed - dt.timedelta(seconds=30), pushed)
    assert sample("kura_push_latency_seconds_sum", kind="stock") == pytest.approx(before + 30)


def test_queue_depth_and_stores_needing_attention_are_read_at_scrape_time(
    client: TestClient, settings: Settings, db: Database
) -> None:
    queue = make_huey(settings.queue_url, name="kura")
    enqueue(queue, "rakuten.orders", 1)
    enqueue(queue, "rakuten.orders", 2)
    with db.transaction() as s:
        s.add(Store(name="broken key", channel=Channel.rakuten, status=StoreStatus.needs_attention))
        s.add(Store(name="fine", channel=Channel.manual))
    families = scrape(client)
    assert families["kura_queue_depth"][("kura_queue_depth", ())] == 2
    assert families["kura_stores_needing_attention"][("kura_stores_needing_attention", ())] == 1


def test_metrics_asks_for_the_token_when_one_is_set(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KURA_METRICS_TOKEN", "s3cret-metrics")
    with client_for(settings, db) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert "kura_queue_depth" in scrape(client, Authorization="Bearer s3cret-metrics")


def test_an_unreachable_queue_is_left_out_of_the_scrape_not_fatal(settings: Settings, db: Database) -> None:
    with client_for(settings.model_copy(update={"queue_url": "redis://127.0.0.1:1/0"}), db) as client:
        families = scrape(client)
    assert "kura_queue_depth" not in families
    assert "kura_stores_needing_attention" in families
