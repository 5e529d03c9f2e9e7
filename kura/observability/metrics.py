"""Prometheus metrics: what Kura's processes record as they work, and what /metrics reads at scrape time.

Counters and histograms live in this process's REGISTRY and move as jobs run and RMS answers:
`record_rms_call` (the stores' RmsClient on_call hook calls it), `observe_job` (kura.jobs.runs calls it when a
run ends) and `record_push` (the pushers call it when a change reached Rakuten). Gauges that describe the whole
installation (queue depth, stores needing attention) are read at scrape time with one short query each.

In distributed mode each `kura worker` records its own jobs and calls: scrape its --metrics-port as well.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

JOB_DURATION = Histogram(
    "kura_job_duration_seconds",
    "How long job runs took, by job kind and outcome (done, failed, skipped).",
    ["kind", "outcome"],
    buckets=(0.05, 0.25, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
RMS_CALLS = Counter(
    "kura_rms_calls",  # exposed as kura_rms_calls_total
    "HTTP attempts to Rakuten RMS, by RMS function and outcome.",
    ["function", "outcome"],
    registry=REGISTRY,
)
RMS_CALL_DURATION = Histogram(
    "kura_rms_call_duration_seconds",
    "How long RMS took to answer one attempt, by RMS function.",
    ["function"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
    registry=REGISTRY,
)
PUSH_LATENCY = Histogram(
    "kura_push_latency_seconds",
    "From a change in Kura (stock, price, listing) to Rakuten accepting it, by push kind.",
    ["kind"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)

# Outcome of one RMS attempt: a small, fixed set of label values (a label per status code would do too, but
# alerts read better as words).
_OUTCOME_BY_STATUS = {401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "throttled"}


class _CallLike(Protocol):
    @property
    def function(self) -> str: ...
    @property
    def status(self) -> int | None: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def error(self) -> str | None: ...


def rms_outcome(status: int | None, error: str | None) -> str:
    """ok, throttled, unauthorized, forbidden, not_found, client_error, server_error or network."""
    if status is None:
        return "network"
    if error is None and status < 400:
        return "ok"
    if status in _OUTCOME_BY_STATUS:
        return _OUTCOME_BY_STATUS[status]
    if status >= 500:
        return "server_error"
    return "client_error" if status >= 400 else "error"  # a 2xx whose body said ERROR


def record_rms_call(record: _CallLike) -> None:
    """Counts one RMS attempt (a kura.channels.rakuten.client.CallRecord); for a client's on_call hook."""
    RMS_CALLS.labels(record.function, rms_outcome(record.status, record.error)).inc()
    RMS_CALL_DURATION.labels(record.function).observe(max(record.duration_ms, 0.0) / 1000)


def observe_job(kind: str, outcome: str, seconds: float) -> None:
    """One finished job run (outcome: done, failed or skipped); kura.jobs.runs.run_job calls it."""
    JOB_DURATION.labels(kind, outcome).observe(max(seconds, 0.0))


def record_push(kind: str, changed_at: dt.datetime, pushed_at: dt.datetime | None = None) -> None:
    """A change made at `changed_at` (an outbox row's dirty_since) reached Rakuten at `pushed_at` (now)."""
    pushed_at = pushed_at or dt.datetime.now(dt.UTC)
    PUSH_LATENCY.labels(kind).observe(max((pushed_at - changed_at).total_seconds(), 0.0))


class InstallationCollector:
    """Gauges read at scrape time: the queue's pending messages and the stores that need a person.

    A source that cannot be read is left out of the scrape (and logged), so `absent()` alerts can see it."""

    def __init__(self, db: Any, huey: Any) -> None:
        self.db = db
        self.huey = huey

    def collect(self) -> Iterator[Metric]:
        depth = self._read("queue depth", lambda: int(self.huey.pending_count()))
        if depth is not None:
            gauge = GaugeMetricFamily("kura_queue_depth", "Job messages waiting in the queue (Huey pending).")
            gauge.add_metric([], depth)
            yield gauge
        attention = self._read("stores needing attention", self._stores_needing_attention)
        if attention is not None:
            gauge = GaugeMetricFamily(
                "kura_stores_needing_attention", "Stores whose jobs are paused until a person fixes their key."
            )
            gauge.add_metric([], attention)
            yield gauge

    def _stores_needing_attention(self) -> int:
        from kura.observability.health import stores_needing_attention

        return stores_needing_attention(self.db)

    @staticmethod
    def _read(what: str, read: Any) -> int | None:
        try:
            return int(read())
        except Exception as exc:
            log.warning("metrics: could not read %s: %s", what, type(exc).__name__)
            return None


class _Together:
    """Several collectors scraped as one registry."""

    def __init__(self, collectors: Iterable[Any]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def exposition(db: Any = None, huey: Any = None) -> tuple[bytes, str]:
    """The text /metrics answers with, and its content type. Without db and huey, this process's metrics only."""
    collectors: list[Any] = [REGISTRY]
    if db is not None and huey is not None:
        collectors.append(InstallationCollector(db, huey))
    return generate_latest(_Together(collectors)), CONTENT_TYPE_LATEST


def serve_process_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Serves this process's metrics on host:port in a background thread (`kura worker --metrics-port`)."""
    from prometheus_client import start_http_server

    start_http_server(port, host, registry=REGISTRY)
    log.info("metrics at http://%s:%d/metrics", host, port)
