"""Imports every module that defines tables, so Base.metadata is complete (Alembic, tests)."""

from kura.auth import models as auth_models  # noqa: F401
