"""Who am I, and API tokens for the signed-in user."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from kura.auth.models import User
from kura.auth.service import create_token
from kura.db import Database
from kura.web.deps import api_user, get_db

router = APIRouter(tags=["auth"])


class Me(BaseModel):
    id: int
    username: str
    role: str


class NewToken(BaseModel):
    name: str = "api"


class TokenOut(BaseModel):
    token: str
    note: str = "Shown once; store it safely. Send it as 'Authorization: Bearer <token>'."


@router.get("/me", response_model=Me)
def me(user: User = Depends(api_user)) -> Me:
    return Me(id=user.id, username=user.username, role=user.role.value)


@router.post("/tokens", response_model=TokenOut, status_code=201)
def new_token(body: NewToken, user: User = Depends(api_user), db: Database = Depends(get_db)) -> TokenOut:
    with db.transaction() as s:
        return TokenOut(token=create_token(s, s.merge(user), body.name))
