"""A database error never carries a buyer's personal data into a log, a job run or a sync request: the
engine hides statement parameters, and a job run keeps a database error by its types only (PostgreSQL's
own text can quote the whole row: "Failing row contains (…)")."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from kura.db import Database, error_text
from kura.jobs.registry import Progress
from kura.jobs.runs import JobRun, RunStatus, run_job

NAME = "山田 太郎"
ADDRESS = "千代田区千代田1-1"


@pytest.fixture
def people(db: Database) -> Iterator[Database]:
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE review_people (name VARCHAR(100) NOT NULL, address VARCHAR(100), "
                          "phone VARCHAR(20) NOT NULL)"))  # fmt: skip
    yield db
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE review_people"))


def _insert_without_phone(db: Database) -> None:
    with db.transaction() as s:
        s.execute(text("INSERT INTO review_people (name, address, phone) VALUES (:n, :a, :p)"),
                  {"n": NAME, "a": ADDRESS, "p": None})  # fmt: skip


def test_a_database_error_does_not_quote_the_statements_values(people: Database) -> None:
    with pytest.raises(IntegrityError) as caught:
        _insert_without_phone(people)
    # The statement is kept to debug with, its values are not. (PostgreSQL's own message before it can still
    # quote the row, which is why job runs keep only error_text.)
    statement = str(caught.value).split("[SQL:", 1)[1]
    assert "review_people" in statement and NAME not in statement and ADDRESS not in statement


def test_a_job_failing_on_a_database_error_keeps_no_personal_data(
    people: Database, caplog: pytest.LogCaptureFixture
) -> None:
    def sync(store_id: int | None, progress: Progress) -> None:
        _insert_without_phone(people)

    with caplog.at_level(logging.DEBUG), pytest.raises(IntegrityError):
        run_job(people, "review.people", 1, sync)
    with people.reader() as s:
        [run] = s.query(JobRun).all()
    assert run.status == RunStatus.failed and run.error
    assert "IntegrityError" in run.error.splitlines()[-1]  # what failed stays readable
    assert NAME not in run.error and ADDRESS not in run.error
    assert NAME not in caplog.text and ADDRESS not in caplog.text


def test_error_text_names_a_database_error_by_its_types_and_keeps_other_messages() -> None:
    try:
        raise IntegrityError("INSERT …", {"n": NAME}, ValueError(f"Failing row contains ({NAME}, {ADDRESS})"))
    except IntegrityError as exc:
        described = error_text(exc)
    assert described.startswith("IntegrityError/ValueError") and NAME not in described
    assert error_text(KeyError("manageNumber")) == "KeyError: 'manageNumber'"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_logged_database_error_traceback_keeps_its_frames_and_types_but_no_row(people: Database, fmt: str) -> None:
    import io

    from kura.observability.logging import make_handler

    stream = io.StringIO()
    logger = logging.getLogger("kura.tests.review.traceback")
    handler = make_handler(fmt, stream)
    logger.addHandler(handler)
    try:
        try:
            _insert_without_phone(people)
        except IntegrityError as exc:
            if people.engine.dialect.name == "postgresql":  # PostgreSQL's own text quotes the failing row
                assert NAME in str(exc.orig)
            logger.exception("import failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "import failed" in written and "IntegrityError" in written and "_insert_without_phone" in written
    assert NAME not in written and ADDRESS not in written
