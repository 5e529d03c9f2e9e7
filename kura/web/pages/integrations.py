"""The integrations page: which sales channels are connected (none yet; the Rakuten connection is a later issue)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from kura.auth.models import User
from kura.db import Database
from kura.orders.service import list_stores
from kura.web.deps import get_db, page_user
from kura.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/integrations")
def integrations(request: Request, user: User = Depends(page_user), db: Database = Depends(get_db)) -> Response:
    with db.reader() as s:
        stores = [(st.name, st.channel.value) for st in list_stores(s)]
    return render(request, "integrations.html", user=user, active="integrations", stores=stores)
