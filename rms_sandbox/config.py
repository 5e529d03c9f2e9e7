"""Settings of the RMS sandbox: storage, clock, rate limits, licence keys and the marketplace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Requests per second per (licence key, function). Figures are from the reference §8 and are [T]
# (third-party summary) for Item/Inventory; Rakuten publishes none for the Order API, so its 1 req/s
# is the third-party guidance [U]. All are overridable through SandboxConfig.rate_limits.
DEFAULT_RATE_LIMITS: dict[str, float] = {
    "items.get": 5,
    "items.upsert": 20,
    "items.patch": 20,
    "items.delete": 5,
    "items.search": 5,
    "items.bulk.get": 1,
    "items.inventory-related-settings.get": 1,
    "items.inventory-related-settings.update": 1,
    "inventories.variants.get": 1,
    "inventories.variants.upsert": 1,
    "inventories.variants.delete": 1,
    "inventories.bulk.get": 5,
    "inventories.bulk.get.range": 5,
    "inventories.bulk.upsert": 1,
    "inventories.variant-lists.get": 1,  # [U] not in any source
    "rpay.order.searchOrder": 1,
    "rpay.order.getOrder": 1,
    "rpay.order.confirmOrder": 1,
    "rpay.order.updateOrderShipping": 1,
    "rpay.order.updateOrderShippingAsync": 1,
    "rpay.order.getResultUpdateOrderShippingAsync": 1,
    "rpay.order.cancelOrder": 1,
    "rpay.order.cancelOrderAfterShipping": 1,
    "rpay.order.getSubStatusList": 1,
    "rpay.order.updateOrderSubStatus": 1,
    "license.expiryDate.get": 1,  # [U]
}


@dataclass
class SandboxConfig:
    """Everything that shapes one sandbox instance. Defaults follow the reference."""

    db_path: str = ":memory:"
    clock: Literal["real", "manual"] = "real"
    # Manual clock start, ISO 8601 with offset; None = the current real time when the store is created.
    clock_start: str | None = None

    rate_limits_enabled: bool = True
    rate_limits: dict[str, float] = field(default_factory=dict)  # overrides of DEFAULT_RATE_LIMITS
    # Length of the sliding window in seconds: at most `rate * window` calls in any window. [U] Rakuten
    # does not say how it counts; a rolling one-second window is the strictest reading of "N req/s".
    rate_limit_window_s: float = 1.0

    license_ttl_days: int = 90  # [C] 90 days (vendor manuals)

    # Marketplace (all times in sandbox-clock seconds).
    order_rate_per_hour: float = 0.0  # buyers placing orders; 0 = none
    auto_confirm_after_s: float | None = None  # 100 → 200 without the shop; None = never (RMS option)
    rakuten_processing_s: float = 120.0  # 200 → 300
    payment_processing_after_s: float = 3600.0  # 500 → 600 after the shipping report [U]
    payment_done_after_s: float = 86400.0  # 600 → 700 [U]
    buyer_cancel_share: float = 0.0  # share of new orders a buyer cancels before shipping
    buyer_cancel_after_s: float = 1800.0  # when such a buyer asks (order → 800)
    cancel_confirm_after_s: float = 600.0  # 800 → 900
    market_tick_s: float = 0.5  # how often a real-clock sandbox runs the marketplace
    market_seed: int = 0  # random source of buyers, so a run can be replayed

    # Order API facts marked [U] in the reference, switchable here.
    shipping_row_limit: int = 20  # ShippingModelList rows per basket ([T] 20; a changelog says 151)
    search_result_cap: int = 15000  # [C] results beyond this cannot be fetched
    async_result_days: int = 30  # [C] getResultUpdateOrderShippingAsync keeps results 30 days

    # [C] OFF:itemsBulkGet: items.bulk.get takes 1..50 manageNumbers (inventories.bulk.get takes 1..1000).
    items_bulk_get_max: int = 50
    # Deleted items stay in items.search as `{"item": {"manageNumber"}}` stubs for this long [C] "up to
    # 24 h" index lag; 0 (default) = the index is always current.
    search_deleted_stub_s: float = 0.0
    max_items_per_shop: int = 50000  # IE0197 beyond this [U] (real limit depends on the shop's plan)

    # Slow/timeout faults: how long a "timeout" fault holds the request before answering 504.
    fault_timeout_s: float = 30.0

    def rate_for(self, function: str) -> float | None:
        if function in self.rate_limits:
            return self.rate_limits[function]
        return DEFAULT_RATE_LIMITS.get(function)
