"""CLI fixtures: `kura` pointed at the test database through KURA_DATABASE_URL, as a user would run it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kura.cli import app
from kura.config import get_settings

Kura = Callable[..., Result]


@pytest.fixture
def kura(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kura]:
    monkeypatch.setenv("KURA_DATABASE_URL", db_url)
    monkeypatch.setenv("KURA_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    yield run
    get_settings.cache_clear()
