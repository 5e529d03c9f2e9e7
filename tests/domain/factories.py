"""Builders for the domain tests: addresses, products and orders made through the services."""

from __future__ import annotations

from collections.abc import Sequence

from kura.catalog.service import ProductFields, create_single
from kura.db import Database
from kura.orders.models import Address, Order
from kura.orders.service import LineSpec, NewOrder, create_order


def address(**changes: str | None) -> Address:
    fields: dict[str, str | None] = {
        "family_name": "山田",
        "given_name": "太郎",
        "family_name_kana": "ヤマダ",
        "given_name_kana": "タロウ",
        "postal_code": "100-0001",
        "prefecture": "東京都",
        "address_line1": "千代田区千代田",
        "address_line2": "1-1",
        "phone": "03-1234-5678",
    }
    fields.update(changes)
    return Address(**fields)  # type: ignore[arg-type]


def fields(name: str = "Tシャツ", price: int = 1980, **more: object) -> ProductFields:
    return ProductFields(name=name, selling_price=price, **more)  # type: ignore[arg-type]


def new_order(lines: Sequence[tuple[str, int]], number: str | None = "R-1", **more: object) -> NewOrder:
    specs = [LineSpec(sku=sku, name=f"item {sku}", quantity=qty, unit_price=1000) for sku, qty in lines]
    return NewOrder(orderer=address(), lines=specs, payment_method="クレジットカード", order_number=number, **more)  # type: ignore[arg-type]


def add_single(db: Database, sku: str, **more: object) -> int:
    with db.transaction() as s:
        return create_single(s, sku, fields(**more)).id  # type: ignore[arg-type]


def add_order(db: Database, store_id: int, lines: Sequence[tuple[str, int]], number: str = "R-1") -> Order:
    with db.transaction() as s:
        return create_order(s, store_id, new_order(lines, number))
