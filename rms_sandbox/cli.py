"""Command line of the sandbox (`python -m rms_sandbox`, `kura sandbox`): seed a shop, print its
credentials and serve the RMS APIs with uvicorn."""

from __future__ import annotations

import argparse
import sys

from rms_sandbox.config import SandboxConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rms_sandbox", description="Local Rakuten RMS API sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--db", default="var/rms_sandbox.db", help='SQLite file, or ":memory:"')
    parser.add_argument("--seed", type=int, default=42, help="seed of the seeded shop")
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--no-seed", action="store_true", help="do not create a seeded shop")
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("--clock", choices=["real", "manual"], default="real")
    parser.add_argument("--order-rate", type=float, default=30.0, help="buyer orders per hour per shop")
    parser.add_argument("--auto-confirm", type=float, default=None,
                        help="seconds after which an unconfirmed order is confirmed (default: never)")
    parser.add_argument("--buyer-cancel-share", type=float, default=0.02)
    parser.add_argument("--license-ttl-days", type=int, default=90)
    parser.add_argument("--log-level", default="info")
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        db_path=args.db, clock=args.clock, rate_limits_enabled=not args.no_rate_limits,
        license_ttl_days=args.license_ttl_days, order_rate_per_hour=args.order_rate,
        auto_confirm_after_s=args.auto_confirm, buyer_cancel_share=args.buyer_cancel_share,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import os

    import uvicorn

    from rms_sandbox.app import create_app
    from rms_sandbox.seed import seed_shop, shop_view

    if args.db != ":memory:" and os.path.dirname(args.db):
        os.makedirs(os.path.dirname(args.db), exist_ok=True)
    app = create_app(config_from_args(args))
    sb = app.state.sandbox
    shops = sb.store.query("SELECT shop_id FROM shops ORDER BY created, shop_id")
    if shops:
        shop_id = int(shops[0]["shop_id"])
        print(f"Using the {len(shops)} shop(s) kept in {args.db}.")
    elif args.no_seed:
        shop_id = None
    else:
        print(f"Seeding a shop (seed {args.seed}, {args.items} items, {args.orders} orders)...", flush=True)
        shop_id = seed_shop(sb, args.seed, args.items, args.orders)
    if shop_id is not None:
        shop = shop_view(sb, shop_id)
        # Printing credentials is the feature: they are sandbox credentials that only work here.
        print(f"Shop URL:       {shop['shop_url']}")
        print(f"Service Secret: {shop['service_secret']}")
        print(f"License Key:    {shop['license_key']}")
    print(f"RMS API base:   http://{args.host}:{args.port}  (admin: /_sandbox/shops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
