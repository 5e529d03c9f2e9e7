"""The REST API, version 1: one module per area, each with a `router`."""

from fastapi import APIRouter

from kura.web.api import me

routers: list[APIRouter] = [me.router]
