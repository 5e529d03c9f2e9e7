"""Fixtures for the Rakuten channel tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rakuten_fakes import Handler, Harness


@pytest.fixture
def harness() -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(handler: Handler, **kwargs: Any) -> Harness:
        h = Harness(handler, **kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        h.client.close()
