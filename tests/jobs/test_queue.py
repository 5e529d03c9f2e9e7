"""The queue and its consumers: SqliteHuey/RedisHuey from a URL, the embedded consumer inside `kura serve`,
Huey's private API we depend on, and the shutdown of a real server on SIGTERM."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer
from sqlalchemy import select

from kura.db import Database, utcnow
from kura.jobs import registry
from kura.jobs.queue import EmbeddedConsumer, EmbeddedJobs, JobSettings, enqueue, kick, make_huey
from kura.jobs.registry import Progress
from kura.jobs.runs import JobRun, RunStatus
from kura.jobs.schedules import ensure_schedule
from tests.conftest import need_service
from tests.jobs.conftest import wait_until

REDIS_URL = os.environ.get("KURA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def done_runs(db: Database, kind: str) -> list[JobRun]:
    with db.reader() as s:
        return list(s.scalars(select(JobRun).where(JobRun.kind == kind, JobRun.status == RunStatus.done)))


def test_huey_consumer_still_has_the_private_signal_hook_we_override() -> None:
    """Pin guard: EmbeddedConsumer relies on Consumer._set_signal_handlers (huey 3.5.4). If a Huey upgrade
    renames it, the embedded consumer would silently steal uvicorn's signals again."""
    assert callable(getattr(Consumer, "_set_signal_handlers", None))
    assert EmbeddedConsumer._set_signal_handlers is not Consumer._set_signal_handlers


def test_the_embedded_consumer_leaves_the_process_signal_handlers_alone(huey: Any) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    consumer = EmbeddedConsumer(huey, workers=1, periodic=False, max_delay=0.2)
    consumer.start()
    try:
        after = {sig: signal.getsignal(sig) for sig in before}
    finally:
        consumer.stop(graceful=True)
    assert after == before


def test_the_sqlite_queue_lives_in_its_own_file_with_a_raised_timeout(tmp_path: Path) -> None:
    queue = make_huey(f"sqlite:///{tmp_path / 'q' / 'queue.db'}")
    assert isinstance(queue, SqliteHuey)
    assert Path(queue.storage.filename) == tmp_path / "q" / "queue.db"
    assert queue.storage._timeout >= 30


@pytest.mark.parametrize("url", ["postgresql://x/y", "sqlite:///:memory:", "memory://"])
def test_unsupported_queue_urls_are_refused_with_a_hint(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        make_huey(url)


def test_web_nodes_consume_embedded_on_sqlite_and_not_on_redis_unless_told() -> None:
    assert JobSettings().workers_in_web("sqlite:///var/queue.db") == 4
    assert JobSettings().workers_in_web("redis://127.0.0.1:6379/0") == 0
    assert JobSettings(embedded_workers=0).workers_in_web("sqlite:///var/queue.db") == 0
    assert JobSettings(embedded_workers=2).workers_in_web("redis://127.0.0.1:6379/0") == 2


@pytest.fixture
def embedded(huey: Any, bound_db: Database) -> Iterator[EmbeddedJobs]:
    jobs = EmbeddedJobs(huey, bound_db, workers=2, dispatch_interval_s=0.1, health_check_interval_s=0.1)
    jobs.start()
    yield jobs
    jobs.stop()


def test_a_due_schedule_is_dispatched_and_run_by_the_embedded_consumer(
    embedded: EmbeddedJobs, db: Database, register_kind: Callable[..., None]
) -> None:
    def sync(store_id: int | None, progress: Progress) -> dict[str, int]:
        progress(1, 1)
        return {"orders": 2}

    register_kind("test.orders", sync)
    with db.transaction() as s:
        ensure_schedule(s, "test.orders", 7, 300, first_run_at=utcnow() - dt.timedelta(seconds=1))

    assert wait_until(lambda: len(done_runs(db, "test.orders")) == 1)
    [run] = done_runs(db, "test.orders")
    assert (run.store_id, run.counts) == (7, {"orders": 2})


def test_a_kick_after_commit_runs_the_job_in_the_embedded_consumer(
    embedded: EmbeddedJobs, db: Database, register_kind: Callable[..., None]
) -> None:
    register_kind("test.stock", lambda store_id, progress: {"pushed": 1})
    with db.transaction() as s:
        kick(s, "test.stock", 3, huey=embedded.huey)
    assert wait_until(lambda: len(done_runs(db, "test.stock")) == 1)


def test_a_dead_worker_thread_is_replaced_by_the_health_check(embedded: EmbeddedJobs) -> None:
    consumer = embedded.consumer
    dead = consumer.worker_threads[0][1]
    consumer.stop_flag.set()  # every worker loop ends …
    assert wait_until(lambda: not dead.is_alive(), timeout=3)
    consumer.stop_flag.clear()  # … and the health check must bring them back
    assert wait_until(lambda: all(t.is_alive() for _, t in consumer.worker_threads) and
                      consumer.worker_threads[0][1] is not dead, timeout=3)


def _redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


@pytest.fixture
def redis_huey() -> Iterator[Any]:
    need_service("Redis", _redis_available(), f"start redis-server or set KURA_TEST_REDIS_URL (tried {REDIS_URL})")
    queue = make_huey(REDIS_URL, name=f"kura-test-{uuid.uuid4().hex[:8]}")
    yield queue
    queue.storage.flush_all()


@pytest.mark.redis
def test_redis_queue_carries_kicks_as_small_messages(redis_huey: Any) -> None:
    assert isinstance(redis_huey, RedisHuey)
    enqueue(redis_huey, "test.orders", 7)
    enqueue(redis_huey, "test.orders", 8, run_id=42)
    assert sorted(t.args for t in redis_huey.pending()) == [("test.orders", 7, None), ("test.orders", 8, 42)]


@pytest.mark.redis
def test_a_consumer_on_redis_runs_kicked_jobs_once_per_lease(
    redis_huey: Any, bound_db: Database, register_kind: Callable[..., None]
) -> None:
    def slow(store_id: int | None, progress: Progress) -> None:
        time.sleep(0.3)

    register_kind("test.orders", slow)
    for _ in range(3):
        enqueue(redis_huey, "test.orders", 7)  # duplicates: one runs, the others find the lease taken
    jobs = EmbeddedJobs(redis_huey, bound_db, workers=3, dispatch_interval_s=None)
    jobs.start()
    try:
        def finished() -> list[RunStatus]:
            with bound_db.reader() as s:
                return sorted(s.scalars(select(JobRun.status).where(JobRun.finished_at.is_not(None))))

        assert wait_until(lambda: len(finished()) == 3)
    finally:
        jobs.stop()
    assert finished() == [RunStatus.done, RunStatus.skipped, RunStatus.skipped]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_kura_serve_with_the_embedded_consumer_exits_within_5s_of_sigterm(db_url: str, tmp_path: Path) -> None:
    port = _free_port()
    queue_file = tmp_path / "queue.db"
    env = {
        **os.environ,
        "KURA_DATABASE_URL": db_url,
        "KURA_QUEUE_URL": f"sqlite:///{queue_file}",
        "KURA_VAR_DIR": str(tmp_path / "var"),
        "KURA_EMBEDDED_WORKERS": "2",
        "KURA_LOG_LEVEL": "warning",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "kura.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        if not wait_until(lambda: healthy() or server.poll() is not None, timeout=15, every=0.1) or not healthy():
            server.kill()
            _, stderr = server.communicate(timeout=5)
            pytest.fail(f"kura serve did not come up:\n{stderr.decode()[-3000:]}")
        assert queue_file.exists(), "the embedded consumer did not start (no queue file)"
        sent = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=5)
        assert time.monotonic() - sent < 5
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
            pytest.fail("kura serve ignored SIGTERM for 5 s: the job consumer took over the signal handlers")
    assert server.stderr is not None
    assert "Traceback" not in server.stderr.read().decode()


@pytest.mark.parametrize("command", [["worker", "--workers", "2"], ["scheduler", "--interval", "0.2"]])
def test_kura_worker_and_scheduler_stop_on_sigterm(command: list[str], db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "KURA_DATABASE_URL": db_url, "KURA_QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
           "KURA_VAR_DIR": str(tmp_path / "var")}
    process = subprocess.Popen([sys.executable, "-m", "kura.cli", *command], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: (tmp_path / "queue.db").exists() or process.poll() is not None, timeout=15)
        time.sleep(0.3)
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
            pytest.fail(f"kura {command[0]} ignored SIGTERM for 5 s")
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read().decode()


def test_tasks_module_registers_kinds_on_import() -> None:
    from kura.jobs.queue import load_kinds

    load_kinds()  # must import cleanly in every process that consumes or dispatches
    assert isinstance(registry.kinds(), list)
