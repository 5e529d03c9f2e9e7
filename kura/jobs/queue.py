"""The queue: one Huey built from KURA_QUEUE_URL (SqliteHuey in its own file embedded, RedisHuey distributed),
the one task that carries every job kick, `kick()` after commit, and the consumers that run them.

Huey is a transport for small, idempotent messages, (kind, store_id[, run_id]); what must not be lost lives
in the database (schedules, outboxes, runs), and the dispatcher re-sends what the queue drops.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.signals import SIGNAL_INTERRUPTED
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import event
from sqlalchemy.orm import Session

from kura.db import Database
from kura.jobs import registry
from kura.jobs.runs import JobRun, RunStatus, run_job, skip_run
from kura.jobs.schedules import Dispatcher
from kura.observability.metrics import observe_job

log = logging.getLogger(__name__)

RUN_TASK = "kura.jobs.run"
SUPERSEDED = "skipped-superseded: a later kick of this job is queued and does its work"
SQLITE_QUEUE_TIMEOUT_S = 30.0  # Huey's default is 5 s; "database is locked" shows under contention.


class JobSettings(BaseSettings):
    """The job layer's knobs (KURA_EMBEDDED_WORKERS, KURA_DISPATCH_INTERVAL_S, …); the queue URL is in Settings."""

    model_config = SettingsConfigDict(env_prefix="KURA_", env_file=".env", extra="ignore")

    embedded_workers: int | None = None  # consumer threads inside `kura serve`; None: 4 on SQLite, 0 on Redis
    dispatch_interval_s: float = 5.0
    health_check_interval_s: float = 10.0
    shutdown_timeout_s: float = 3.0

    def workers_in_web(self, queue_url: str) -> int:
        if self.embedded_workers is not None:
            return max(self.embedded_workers, 0)
        return 4 if is_sqlite_queue(queue_url) else 0


def is_sqlite_queue(url: str) -> bool:
    return url.startswith("sqlite:")


def make_huey(url: str, *, name: str = "kura") -> Any:
    """A Huey for `url` (sqlite:///path or redis://…), with Kura's task registered on it.

    Results are off: outcomes are recorded in job_runs, not in the queue."""
    huey: Any
    if is_sqlite_queue(url):
        path = url.split("///", 1)[-1]
        if not path or path == ":memory:":
            raise ValueError("the SQLite queue needs a file: sqlite:///var/queue.db")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(name, filename=path, timeout=SQLITE_QUEUE_TIMEOUT_S, results=False, utc=True)
    elif url.startswith(("redis://", "rediss://", "unix://")):
        huey = RedisHuey(name, url=url, results=False, utc=True)
    else:
        raise ValueError(f"unsupported queue URL {url!r}: use sqlite:///path or redis://host:port/db")

    @huey.task(name=RUN_TASK, context=True)
    def run(kind: str, store_id: int | None, run_id: int | None = None, task: Any = None) -> None:
        if run_id is None and task is not None and _superseded(huey, kind, store_id, task.id):
            registry.get_kind(kind)
            with registry.job_database().transaction() as s:
                skip_run(s, kind, store_id, SUPERSEDED)
            observe_job(kind, RunStatus.skipped.value, 0.0)
            return
        execute(kind, store_id, run_id, huey=huey)

    def send(kind: str, store_id: int | None, run_id: int | None = None) -> None:
        """Queues a kick; a plain one (no run_id) first becomes the latest kick of (kind, store_id)."""
        task = run.s(kind, store_id, run_id)
        if run_id is None:
            huey.put(_latest_key(kind, store_id), task.id)
        try:
            huey.enqueue(task)
        except Exception:
            if run_id is None:  # don't let a kick that was never queued supersede the ones that were
                with contextlib.suppress(Exception):
                    if huey.get(_latest_key(kind, store_id), peek=True) == task.id:
                        huey.delete(_latest_key(kind, store_id))
            raise

    @huey.signal(SIGNAL_INTERRUPTED)
    def requeue_interrupted(signal: str, task: Any, *args: Any, **kwargs: Any) -> None:
        # A graceful stop cut this kick short; send it again (the lease and the run log keep it safe), as the
        # latest kick of its job: it was running, so a kick queued meanwhile may have been skipped on its lease.
        args = tuple(task.args)
        if task.name == RUN_TASK and len(args) >= 2 and (len(args) < 3 or args[2] is None):
            huey.put(_latest_key(args[0], args[1]), task.id)
        huey.enqueue(task)

    huey.kura_run = send
    return huey


def _latest_key(kind: str, store_id: int | None) -> str:
    return f"kura.latest-kick.{kind}.{store_id if store_id is not None else '-'}"


def _superseded(huey: Any, kind: str, store_id: int | None, task_id: str) -> bool:
    """True if a later plain kick of (kind, store_id) was queued after this one: this one can be dropped.

    Kicks are intents ("the stock of shop 7 changed"), and a kick's job reads the database when it starts, so
    the later kick, which starts later, does everything this one would. Under load this keeps a backlog from
    growing: without it every stale kick of a burst runs (and a stock pusher lingers for each). Each plain kick
    records its id as the latest of its job before it is queued; a kick is dropped (recorded as a skipped run)
    only when that record names another kick. No record (the queue was flushed or restarted, or the look-up
    fails) runs the kick."""
    try:
        latest = huey.get(_latest_key(kind, store_id), peek=True)
    except Exception:
        log.warning("could not read the latest kick of %s for store %s; running this one", kind, store_id)
        return False
    return latest is not None and latest != task_id


@lru_cache(maxsize=1)
def get_huey() -> Any:
    """This process's Huey, from KURA_QUEUE_URL."""
    from kura.config import get_settings

    return make_huey(get_settings().queue_url)


def load_kinds() -> None:
    """Imports every module that registers job kinds (before consuming or dispatching)."""
    import kura.jobs.tasks  # noqa: F401


def enqueue(huey: Any, kind: str, store_id: int | None, run_id: int | None = None) -> None:
    """Sends a kick now. Inside a transaction, prefer kick(): it waits for the commit.

    Plain kicks (no run_id) of one (kind, store_id) coalesce: when one arrives and a later one is already
    queued behind it, it is dropped (see `_superseded`). A kick with a run_id always runs."""
    huey.kura_run(kind, store_id, run_id)


def execute(kind: str, store_id: int | None, run_id: int | None = None, *, huey: Any = None) -> JobRun:
    """What a kick does when it arrives: run the kind under its lease, recorded in job_runs.

    `huey`: the queue the kick came from (a re-kick goes back to it); None: this process's queue."""
    job = registry.get_kind(kind)
    db = registry.job_database()
    run = run_job(db, kind, store_id, job.fn, lease_ttl_s=job.lease_ttl_s, run_id=run_id)
    if job.again is not None and run.status == RunStatus.done and job.again(db, store_id):
        # Work came in while this run held the lease (its own kick was skipped): send the job again now.
        enqueue(huey or get_huey(), kind, store_id)
    return run


_KICKS = "kura_job_kicks"
_LISTENING = "kura_job_kicks_listening"


def kick(session: Session, kind: str, store_id: int | None, *, huey: Any = None) -> None:
    """Enqueues the job once this session's transaction commits; a rollback sends nothing.

    Several kicks of one (kind, store_id) in one transaction send one message. If the queue is down at
    commit time the kick is logged and dropped: the dispatcher's schedules and sweepers re-send it."""
    registry.get_kind(kind)  # an unknown kind fails here, inside the caller's transaction
    if not session.info.get(_LISTENING):
        event.listen(session, "after_commit", _send_kicks)
        event.listen(session, "after_rollback", _drop_kicks)
        session.info[_LISTENING] = True
    session.info.setdefault(_KICKS, {}).setdefault((kind, store_id), huey)


def _send_kicks(session: Session) -> None:
    pending: dict[tuple[str, int | None], Any] = session.info.pop(_KICKS, {})
    for (kind, store_id), huey in pending.items():
        try:
            enqueue(huey or get_huey(), kind, store_id)
        except Exception:
            log.exception("kick of %s for store %s lost; the dispatcher will re-send it", kind, store_id)


def _drop_kicks(session: Session) -> None:
    session.info.pop(_KICKS, None)


class EmbeddedConsumer(Consumer):
    """A Huey consumer for threads inside another program (`kura serve`): it leaves signals alone.

    The stock Consumer.start() installs SIGINT/SIGTERM/SIGHUP handlers, which replace uvicorn's: the server
    would then ignore Ctrl-C and SIGTERM. The owner stops this consumer from its own shutdown instead."""

    def _set_signal_handlers(self) -> None:
        pass


class EmbeddedJobs:
    """The job layer running inside the web process: consumer threads, their health check, the dispatcher."""

    def __init__(
        self,
        huey: Any,
        db: Database,
        *,
        workers: int = 4,
        dispatch_interval_s: float | None = 5.0,
        health_check_interval_s: float = 10.0,
        shutdown_timeout_s: float = 3.0,
    ) -> None:
        self.huey = huey
        self.db = db
        self.health_check_interval_s = health_check_interval_s
        self.consumer = EmbeddedConsumer(
            huey,
            workers=workers,
            periodic=False,  # schedules are rows claimed by our dispatcher, not Huey periodic tasks
            worker_type="thread",
            max_delay=1.0,  # SQLite is polled; the default 10 s would make a kick feel slow
            shutdown_timeout=shutdown_timeout_s,
        )
        self.dispatcher = Dispatcher(db, huey, dispatch_interval_s) if dispatch_interval_s else None
        self._stop = threading.Event()
        self._health: threading.Thread | None = None

    def start(self) -> None:
        load_kinds()
        registry.bind_database(self.db)
        self.consumer.start()
        self._health = threading.Thread(target=self._check_health, name="kura-jobs-health", daemon=True)
        self._health.start()
        if self.dispatcher is not None:
            self.dispatcher.start()
        log.info("embedded jobs started: %d worker threads", self.consumer.workers)

    def _check_health(self) -> None:
        # Consumer.run() would do this in its loop; an embedded consumer never runs that loop.
        while not self._stop.wait(self.health_check_interval_s):
            try:
                self.consumer.check_worker_health()
            except Exception:
                log.exception("job worker health check failed")

    def stop(self) -> None:
        """Stops dispatching, lets running jobs finish for up to shutdown_timeout_s, re-queues the rest."""
        self._stop.set()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        self.consumer.stop(graceful=True)
        self.huey.notify_interrupted_tasks()
        if self._health is not None:
            self._health.join(1.0)
        registry.unbind_database(self.db)
        log.info("embedded jobs stopped")


def start_embedded(queue_url: str, db: Database, job_settings: JobSettings | None = None) -> EmbeddedJobs | None:
    """Starts the in-process job layer if this installation runs it embedded; None if not."""
    job_settings = job_settings or JobSettings()
    workers = job_settings.workers_in_web(queue_url)
    if workers <= 0:
        return None
    jobs = EmbeddedJobs(
        make_huey(queue_url) if queue_url else get_huey(),
        db,
        workers=workers,
        dispatch_interval_s=job_settings.dispatch_interval_s,
        health_check_interval_s=job_settings.health_check_interval_s,
        shutdown_timeout_s=job_settings.shutdown_timeout_s,
    )
    jobs.start()
    return jobs


def run_worker(queue_url: str, db: Database, workers: int, worker_type: str = "thread") -> None:
    """`kura worker`: a consumer process (distributed mode); its own signal handling stops it gracefully."""
    load_kinds()
    registry.bind_database(db)
    consumer = make_huey(queue_url).create_consumer(
        workers=workers, worker_type=worker_type, periodic=False, max_delay=1.0
    )
    consumer.run()


def run_scheduler(queue_url: str, db: Database, interval_s: float) -> None:
    """`kura scheduler`: the dispatcher loop in the foreground until SIGINT or SIGTERM."""
    import signal

    load_kinds()
    dispatcher = Dispatcher(db, make_huey(queue_url), interval_s)

    def stop(signum: int, frame: Any) -> None:
        dispatcher.stop(timeout=0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("dispatcher ticking every %.1f s", interval_s)
    dispatcher.run()
