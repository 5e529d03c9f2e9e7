"""The figures the dashboard shows."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kura.auth.models import User


def dashboard_figures(session: Session) -> dict[str, int]:
    return {"users": session.scalar(select(func.count()).select_from(User)) or 0}
