"""Development helper: rewrote the initial Alembic revision from the models, before the first release.

Main has landed since (databases made by `make run` exist), so a schema change now gets a revision of its own
(`kura/migrations/versions/0002_*.py` on) and this script refuses to run once there is one.

Usage: .venv/bin/python scripts/regen_initial_migration.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from kura.migrate import MIGRATIONS_DIR, alembic_config

target = MIGRATIONS_DIR / "versions" / "0001_initial.py"
later = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("0*.py") if p.name != target.name)
if later:
    sys.exit(f"refused: {', '.join(later)} follow the initial revision; write a new revision for a schema change "
             "instead (databases made from 0001_initial exist).")
if target.exists():
    target.unlink()
with tempfile.TemporaryDirectory() as tmp:
    url = f"sqlite:///{Path(tmp) / 'empty.db'}"
    cfg = alembic_config(url)
    cfg.set_main_option("file_template", "%%(rev)s")
    command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001_initial")
print(f"wrote {target}")
# Autogenerate from SQLite renders JSONB's astext_type without the `sa.` prefix.
target.write_text(target.read_text().replace("astext_type=Text()", "astext_type=sa.Text()"))
subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--unsafe-fixes", "-q", str(target)], check=False)
