"""Browser fixtures: Kura served by uvicorn on a free port, driven by Playwright in Debian's Chromium.

Never downloads a browser: the executable is /usr/bin/chromium (or KURA_CHROMIUM). Screenshots go to
test-artifacts/browser/ and are kept as CI artifacts.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from kura.auth.service import create_user
from kura.config import Settings
from kura.db import Database
from kura.web.app import create_app
from tests.conftest import need_service

CHROMIUM = os.environ.get("KURA_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PASSWORD = "browser-test-password"

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveKura:
    url: str
    db: Database
    username: str
    password: str


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        pass


@pytest.fixture
def live_kura(db_url: str, db: Database, tmp_path: Path) -> Iterator[LiveKura]:
    with db.transaction() as s:
        create_user(s, "admin", PASSWORD, "admin")
    port = free_port()
    settings = Settings(database_url=db_url, var_dir=tmp_path / "var", port=port)
    server = _Server(uvicorn.Config(create_app(settings, db), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("Kura did not start within 10 s")
        time.sleep(0.05)
    yield LiveKura(f"http://127.0.0.1:{port}", db, "admin", PASSWORD)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    available = shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists()
    if not available:
        need_service("Chromium", False, f"{CHROMIUM} not found; `apt-get install -y chromium`")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ],
    }


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Any:
    """shot(page, "name") saves a screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _shot(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


def sign_in(page: Any, live: LiveKura, locale: str = "en") -> None:
    page.goto(f"{live.url}/lang/{locale}")
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", live.username)
    page.fill("input[name=password]", live.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/")
