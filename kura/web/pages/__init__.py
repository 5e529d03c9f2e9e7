"""Server-rendered pages: one module per area, each with a `router`."""

from fastapi import APIRouter

from kura.web.pages import account, home

routers: list[APIRouter] = [account.router, home.router]
