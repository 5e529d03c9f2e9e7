"""Settings of the carrier sandbox: storage, clock, outcome rates and how long each step takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Seconds from the previous event to this one (sandbox-clock seconds). Not carrier figures: a parcel
# that ships in the morning is out for delivery the next morning, which is what Japanese shops see.
DEFAULT_TIMINGS: dict[str, float] = {
    "info": 0.0,  # label issued
    "pickup": 3 * 3600.0,
    "transit": 5 * 3600.0,  # each transit scan
    "out": 8 * 3600.0,
    "delivered": 3 * 3600.0,
    "absent": 3 * 3600.0,
    "redelivery": 2 * 3600.0,
    "failed": 24 * 3600.0,
    "returned": 48 * 3600.0,
    "investigating": 24 * 3600.0,
    "lost": 72 * 3600.0,
}


@dataclass
class CarrierSandboxConfig:
    """Everything that shapes one carrier sandbox. Rates are shares of new parcels (0..1)."""

    db_path: str = ":memory:"
    clock: Literal["real", "manual"] = "real"
    clock_start: str | None = None  # ISO 8601 with offset; manual clock only; None = now
    seed: int = 0  # tracking numbers and outcomes are a function of the seed: runs can be replayed
    absent_rate: float = 0.1  # first attempt finds nobody home; delivered on the redelivery
    failed_rate: float = 0.01  # cannot be delivered; returned to the sender
    lost_rate: float = 0.005
    timings: dict[str, float] = field(default_factory=dict)  # overrides of DEFAULT_TIMINGS
    max_numbers_per_query: int = 10  # Yamato's page takes 10 numbers per query (reference §3)

    def timing(self, step: str) -> float:
        return float(self.timings.get(step, DEFAULT_TIMINGS[step]))
