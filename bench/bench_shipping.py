"""Benchmark of fulfilment through Kura's services, against both sandboxes over real HTTP:

1. Bulk "print labels" for 1,000 orders: parcels created with the carrier (Yamato, carrier sandbox), then one PDF
   of all labels rendered from the database; compared with raw rendering (bench/bench_labels.py).
2. Shipping reports to the RMS sandbox with its rate limits on (Order API: 1 request/s per function), with
   updateOrderShipping (one order per request) and updateOrderShippingAsync (100 orders per request); the bound
   is computed from the rate and printed beside the measurement.

Run: python bench/bench_shipping.py [--orders 1000] [--sync-reports 15] [--async-reports 300]"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_labels import labels as raw_labels  # noqa: E402

from carriers_sandbox.testing import running_carrier_sandbox  # noqa: E402
from kura.catalog.service import ProductFields, create_single  # noqa: E402
from kura.channels.rakuten import orders as ordersync  # noqa: E402
from kura.channels.rakuten import shipping as rakuten_shipping  # noqa: E402
from kura.db import Database, utcnow  # noqa: E402
from kura.inventory.service import create_warehouse, receive  # noqa: E402
from kura.jobs import registry  # noqa: E402
from kura.jobs.runs import run_job  # noqa: E402
from kura.migrate import upgrade  # noqa: E402
from kura.orders import service as orders  # noqa: E402
from kura.orders.models import Address, Order  # noqa: E402
from kura.orders.statuses import OrderStatus  # noqa: E402
from kura.ratelimit import RateLimiter  # noqa: E402
from kura.shipping import service as shipping  # noqa: E402
from kura.shipping.labels import render_labels  # noqa: E402
from kura.stores.service import client_for, connect_rakuten, get_store  # noqa: E402
from kura.stores.warehouses import set_store_warehouses  # noqa: E402
from rms_sandbox.config import SandboxConfig  # noqa: E402
from rms_sandbox.testing import running_sandbox  # noqa: E402

ORDER_RATE = 1.0  # req/s per Order API function (the sandbox's default and the reference's guidance)
ASYNC_BATCH = 100
SHIP_FROM = {"name": "株式会社くら商店", "postal_code": "150-0001", "prefecture": "東京都",
             "address_line1": "渋谷区神宮前1-2-3", "address_line2": "くらビル5F", "phone": "0312345678"}  # fmt: skip
BUYER = Address(
    "山田", "太郎", "ヤマダ", "タロウ", "530-0001", "大阪府", "大阪市北区梅田3-1-1", "梅田タワー12階", "09012345678"
)


def kura_db(tmp: Path, name: str) -> Database:
    url = f"sqlite:///{tmp / name}"
    upgrade(url)
    db = Database(url)
    registry.bind_database(db)
    return db


def bench_labels(tmp: Path, count: int) -> dict[str, Any]:
    db = kura_db(tmp, "labels.db")
    with db.transaction() as s:
        wh = create_warehouse(s, "WH1", "Tokyo").id
        create_single(s, "TEA-1", ProductFields(name="緑茶 3箱", selling_price=1980))
        receive(s, wh, "TEA-1", count * 2)
        store = orders.create_manual_store(s, "bench") if hasattr(orders, "create_manual_store") else None
        store_id = store.id if store else orders.create_store(s, "bench").id
        shipping.set_ship_from(s, store_id, SHIP_FROM)
        ids = []
        for _ in range(count):
            o = orders.create_order(s, store_id, orders.NewOrder(BUYER, [orders.LineSpec("TEA-1", "緑茶 3箱", 1, 1980)],
                                                                  "クレジットカード"))  # fmt: skip
            ids.append(o.id)
        s.flush()
        for order_id in ids:
            orders.allocate(s, order_id)
    with running_carrier_sandbox() as carriers:
        import os

        os.environ["KURA_CARRIERS_URL"] = carriers.base_url
        started = time.perf_counter()
        result = shipping.bulk(db, "parcels", ids, carrier="yamato")
        create_s = time.perf_counter() - started
    assert not result.failed, list(result.failed.items())[:3]
    with db.reader() as s:
        started = time.perf_counter()
        pdf = shipping.labels_for_orders(s, ids)
        print_s = time.perf_counter() - started
    batch = raw_labels(count)
    started = time.perf_counter()
    render_labels(batch)
    raw_s = time.perf_counter() - started
    db.dispose()
    return {"orders": count, "parcels_per_s": count / create_s, "labels_per_s": count / print_s,
            "end_to_end_per_s": count / (create_s + print_s), "raw_labels_per_s": count / raw_s,
            "pdf_bytes": len(pdf)}  # fmt: skip


def _set_clock(admin: Any, at: dt.datetime) -> None:
    admin.http.put("/_sandbox/clock", json={"now": at.isoformat()}).raise_for_status()


def bench_reports(tmp: Path, sync_n: int, async_n: int) -> dict[str, Any]:
    db = kura_db(tmp, "reports.db")
    config = SandboxConfig(db_path=":memory:", clock="manual", rate_limits_enabled=False)
    fast = RateLimiter("memory://", rates={}, default="1000/second")
    real = RateLimiter("memory://")  # Kura's own per-function limits: 1/s for the Order API
    limiter = {"now": fast}
    with running_sandbox(config=config, seed=None) as sb, running_carrier_sandbox() as carriers:
        import os

        os.environ["KURA_CARRIERS_URL"] = carriers.base_url
        shop = sb.admin.create_shop(seed=7, items=20)
        stock = [x for x in sb.admin.stock(shop["shop_id"]) if x["quantity"] >= 50]
        sb.admin.set_stock(shop["shop_id"], [{"manageNumber": x["manageNumber"], "variantId": x["variantId"],
                                              "quantity": 10_000} for x in stock])  # fmt: skip
        store_id = connect_rakuten(db, name="bench", shop_url=shop["shop_url"], license_key=shop["license_key"],
                                   service_secret=shop["service_secret"], api_base_url=sb.base_url,
                                   import_products=False, limiter=fast).store_id  # fmt: skip

        def factory(database: Database, sid: int, run_id: int | None) -> Any:
            with database.reader() as s:
                store = get_store(s, sid)
                s.expunge(store)
            return client_for(store, database, run_id=run_id, limiter=limiter["now"])

        ordersync.client_factory = factory
        with db.transaction() as s:
            ordersync.update_order_settings(s, store_id, {"auto_confirm": True})
            wh = create_warehouse(s, "WH1", "Tokyo").id
            for x in stock:
                code = x.get("merchantDefinedSkuId") or x["variantId"]
                create_single(s, code, ProductFields(name=f"item {code}", selling_price=1000))
                receive(s, wh, code, 10_000)
            set_store_warehouses(s, store_id, [wh])
            shipping.set_ship_from(s, store_id, SHIP_FROM)
        ordersync.start_order_sync(db, store_id)
        total = sync_n + async_n
        _set_clock(sb.admin, utcnow() - dt.timedelta(seconds=600))
        placed, i = 0, 0
        while placed < total:
            x = stock[i % len(stock)]
            i += 1
            item = {"manageNumber": x["manageNumber"], "variantId": x["variantId"], "units": 1}
            if (
                sb.admin.http.post(f"/_sandbox/shops/{shop['shop_id']}/orders", json={"items": [item]}).status_code
                == 201
            ):
                placed += 1
            else:
                stock.remove(x)  # not on sale
        run_job(db, ordersync.KIND_NEW, store_id, registry.get_kind(ordersync.KIND_NEW).fn)
        _set_clock(sb.admin, utcnow())
        run_job(db, ordersync.KIND_STATUS, store_id, registry.get_kind(ordersync.KIND_STATUS).fn)
        with db.reader() as s:
            ready = [o.id for o in s.query(Order).filter(Order.store_id == store_id, Order.status == OrderStatus.RFP)]
        assert len(ready) >= total, f"only {len(ready)} of {total} orders reached RFP"
        out: dict[str, Any] = {}
        sb.admin.configure(rate_limits_enabled=True)
        limiter["now"] = real
        for mode, chunk in (("sync", ready[:sync_n]), ("async", ready[sync_n:total])):
            shipping.bulk(db, "ship", chunk, carrier="yamato")
            time.sleep(1.1)  # start each run with fresh rate-limit windows
            started = time.perf_counter()
            counts = rakuten_shipping.report_due(db, store_id, mode=mode, limit=1000)
            elapsed = time.perf_counter() - started
            assert counts["reported"] == len(chunk), counts
            per_s = len(chunk) / elapsed
            bound = ORDER_RATE * (1 if mode == "sync" else ASYNC_BATCH)
            out[mode] = {"orders": len(chunk), "seconds": elapsed, "reports_per_s": per_s, "bound_per_s": bound,
                         "requests": counts["requests"]}  # fmt: skip
        stats = [x for x in sb.admin.stats() if str(x.get("function", "")).startswith("rpay.order.")]
        out["rate_limited"] = sum(int(x.get("rate_limited", 0)) for x in stats)
    db.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--sync-reports", type=int, default=15)
    parser.add_argument("--async-reports", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        lab = bench_labels(Path(tmp), args.orders)
        print(f"bulk print of {lab['orders']} orders through Kura: parcels created with Yamato (sandbox) "
              f"{lab['parcels_per_s']:.0f}/s; labels rendered from the database {lab['labels_per_s']:.0f}/s "
              f"(raw rendering {lab['raw_labels_per_s']:.0f}/s); create + print {lab['end_to_end_per_s']:.0f} "
              f"orders/s; PDF {lab['pdf_bytes'] / 1e6:.1f} MB")  # fmt: skip
        rep = bench_reports(Path(tmp), args.sync_reports, args.async_reports)
        for mode in ("sync", "async"):
            r = rep[mode]
            print(f"shipping reports ({mode}): {r['orders']} orders in {r['seconds']:.1f} s = {r['reports_per_s']:.1f} "
                  f"orders/s; bound at {ORDER_RATE:g} req/s per Order API function = {r['bound_per_s']:.0f} orders/s "
                  f"({r['reports_per_s'] / r['bound_per_s']:.0%} of it); {r['requests']} report calls")  # fmt: skip
        print(f"sandbox 429s on the Order API: {rep['rate_limited']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
