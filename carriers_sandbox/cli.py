"""Command line of the carrier sandbox (`python -m carriers_sandbox`): serve it with uvicorn."""

from __future__ import annotations

import argparse
import os
import sys

from carriers_sandbox.config import CarrierSandboxConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carriers_sandbox", description="Local Yamato/Sagawa/Japan Post sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--db", default="var/carriers_sandbox.db", help='SQLite file, or ":memory:"')
    parser.add_argument("--clock", choices=["real", "manual"], default="real")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--absent-rate", type=float, default=0.1)
    parser.add_argument("--failed-rate", type=float, default=0.01)
    parser.add_argument("--lost-rate", type=float, default=0.005)
    parser.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import uvicorn

    from carriers_sandbox.app import create_app

    if args.db != ":memory:" and os.path.dirname(args.db):
        os.makedirs(os.path.dirname(args.db), exist_ok=True)
    app = create_app(CarrierSandboxConfig(db_path=args.db, clock=args.clock, seed=args.seed,
                                          absent_rate=args.absent_rate, failed_rate=args.failed_rate,
                                          lost_rate=args.lost_rate))
    print(f"Carrier sandbox: http://{args.host}:{args.port}  (carriers: /v1/carriers, admin: /_sandbox/parcels)",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
