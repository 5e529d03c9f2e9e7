"""Runs every benchmark under bench/ (or those named) in one go and prints their figures together.

Usage: python bench/run.py [name ...]   e.g. `python bench/run.py core sandbox`
Each bench_<name>.py is a script that prints its own report; results also go to bench/results/.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        out = proc.stdout + (proc.stderr if proc.returncode else "")
        print(out, end="")
        (results / f"{script.stem}.txt").write_text(out)
        print(f"--- {script.stem}: {time.monotonic() - started:.1f} s, exit {proc.returncode}")
        if proc.returncode:
            failed.append(script.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
