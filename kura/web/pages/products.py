"""Product pages: the list with live filters, a product's page, and the forms to create and edit all three types."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from kura import i18n
from kura.auth.models import User
from kura.catalog.models import Product, ProductType
from kura.catalog.service import (
    ProductFields,
    VariantSpec,
    brands,
    create_group,
    create_kit,
    create_single,
    get_product,
    search_products,
    set_kit_components,
    update_product,
    update_sku,
)
from kura.db import Database
from kura.errors import Invalid, KuraError
from kura.inventory.models import StockLevel, Warehouse
from kura.inventory.service import availability_by_warehouse
from kura.web.deps import get_db, page_user
from kura.web.pages.forms import Window, is_partial, page_writer, tri_state, whole_number, yes
from kura.web.templating import render

router = APIRouter(include_in_schema=False)

TYPES = [t.value for t in ProductType]


# ---------------------------------------------------------------- list


@router.get("/products")
def product_list(
    request: Request,
    q: str = "",
    type: str = "",
    brand: str = "",
    active: str = "",
    page: int = 1,
    user: User = Depends(page_user),
    db: Database = Depends(get_db),
) -> Response:
    window = Window.of(page)
    filters = {"q": q, "type": type, "brand": brand, "active": active}
    error = None
    with db.reader() as s:
        try:
            found = search_products(
                s,
                q=q or None,
                type=type or None,
                brand=brand or None,
                active=tri_state(active),
                limit=window.per_page,
                offset=window.offset,
            )
            items, total = list(found.items), found.total
        except Invalid as exc:
            items, total, error = [], 0, exc.message
        brand_list = brands(s)
    context: dict[str, Any] = {
        "user": user,
        "active_nav": "products",
        "products": items,
        "window": window.with_total(total),
        "filters": filters,
        "brands": brand_list,
        "types": TYPES,
        "error": error,
    }
    if is_partial(request, "results"):
        return render(request, "products/_results.html", **context)
    return render(request, "products/list.html", active="products", **context)


# ---------------------------------------------------------------- detail


def _stock_by_sku(s: Any, product: Product) -> dict[str, list[dict[str, Any]]]:
    """SKU code → rows of (warehouse, on hand, reserved, available); a kit's come from its components."""
    stocked = [sku for sku in product.skus if not sku.is_kit]
    rows: dict[str, list[dict[str, Any]]] = {sku.code: [] for sku in product.skus}
    if stocked:
        levels = s.execute(
            select(StockLevel.sku_id, Warehouse.code, Warehouse.name, StockLevel.on_hand, StockLevel.reserved)
            .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
            .where(StockLevel.sku_id.in_([sku.id for sku in stocked]))
            .order_by(Warehouse.code)
        ).all()
        code_of = {sku.id: sku.code for sku in stocked}
        for sku_id, wh_code, wh_name, on_hand, reserved in levels:
            rows[code_of[sku_id]].append(
                {
                    "warehouse": wh_code,
                    "warehouse_name": wh_name,
                    "on_hand": on_hand,
                    "reserved": reserved,
                    "available": on_hand - reserved,
                }
            )
    kits = [sku.code for sku in product.skus if sku.is_kit]
    if kits:
        for code, by_wh in availability_by_warehouse(s, kits).items():
            rows[code] = [
                {"warehouse": wh, "warehouse_name": "", "on_hand": None, "reserved": None, "available": units}
                for wh, units in by_wh.items()
            ]
    return rows


@router.get("/products/{product_id:int}")
def product_detail(
    request: Request, product_id: int, user: User = Depends(page_user), db: Database = Depends(get_db)
) -> Response:
    with db.reader() as s:
        product = get_product(s, product_id)
        stock = _stock_by_sku(s, product)
        for sku in product.skus:  # load what the template reads before the session closes
            _ = [c.component.code for c in sku.components]
        s.expunge_all()
    saved = request.query_params.get("saved")
    return render(
        request, "products/detail.html", user=user, active="products", product=product, stock=stock, saved=saved
    )


# ---------------------------------------------------------------- forms: reading


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _fields_from(form: Mapping[str, Any]) -> ProductFields:
    name = str(form.get("name", "")).strip()
    if not name:
        raise Invalid("name", i18n.gettext("Give the product a name."))
    return ProductFields(
        name=name,
        selling_price=whole_number(form.get("selling_price"), "selling_price", minimum=0) or 0,
        retail_price=whole_number(form.get("retail_price"), "retail_price", required=False, minimum=0),
        brand=str(form.get("brand", "")).strip() or None,
        description=str(form.get("description", "")).strip() or None,
        images=_lines(str(form.get("images", ""))),
        active=yes(form.get("active")),
    )


def _components_from(form: FormData) -> dict[str, int]:
    components: dict[str, int] = {}
    for code, qty in zip(form.getlist("component_sku"), form.getlist("component_qty"), strict=False):
        code = str(code).strip()
        if not code:
            continue
        if code in components:
            raise Invalid(
                "components", i18n.gettext("Component {sku} is listed twice; list each SKU once.").format(sku=code)
            )
        components[code] = whole_number(qty, "components", minimum=1) or 1
    if not components:
        raise Invalid("components", i18n.gettext("A kit needs at least one component SKU with a quantity."))
    return components


def _axes_from(form: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """[(axis name, [values])] from axis_name_N / axis_values_N (values separated by commas, 、 or /)."""
    axes = []
    for n in range(1, 4):
        name = str(form.get(f"axis_name_{n}", "")).strip()
        raw = str(form.get(f"axis_values_{n}", ""))
        values = [v.strip() for v in raw.replace("、", ",").replace("，", ",").replace("/", ",").split(",")]
        values = list(dict.fromkeys(v for v in values if v))
        if name and values:
            axes.append((name, values))
        elif name or values:
            raise Invalid(
                f"axis_name_{n}", i18n.gettext("Axis {n} needs both a name and at least one value.").format(n=n)
            )
    return axes


def variant_rows(code: str, axes: Sequence[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    """Every combination of the axis values, each with a suggested SKU (group code + values)."""
    rows = []
    for combo in itertools.product(*(values for _name, values in axes)):
        values = dict(zip([name for name, _ in axes], combo, strict=True))
        suggested = "-".join([code.strip() or "SKU", *combo])
        rows.append({"sku": suggested, "values": values, "key": "|".join(combo), "selling_price": ""})
    return rows


def _variants_from(form: FormData, axis_names: list[str]) -> list[VariantSpec]:
    variants = []
    keys, skus, prices = form.getlist("variant_key"), form.getlist("variant_sku"), form.getlist("variant_price")
    for i, (key, sku) in enumerate(zip(keys, skus, strict=False)):
        combo = str(key).split("|")
        if len(combo) != len(axis_names):
            raise Invalid(
                "variants", i18n.gettext("The variant rows don't match the axes; press “Make variant rows” again.")
            )
        price = whole_number(prices[i] if i < len(prices) else "", f"variant {sku} price", required=False, minimum=0)
        variants.append(
            VariantSpec(sku=str(sku), axis_values=dict(zip(axis_names, combo, strict=True)), selling_price=price)
        )
    if not variants:
        raise Invalid(
            "variants",
            i18n.gettext("A group needs at least one variant; fill in the axes and press “Make variant rows”."),
        )
    return variants


# ---------------------------------------------------------------- create


def _form_page(
    request: Request,
    user: User,
    form: Mapping[str, Any],
    *,
    error: KuraError | None = None,
    status_code: int = 200,
    product: Product | None = None,
    variants: Any = None,
    posted: FormData | None = None,
) -> Response:
    ptype = str(form.get("type") or (product.type.value if product else "single"))
    components: list[tuple[Any, Any]] = []
    source = posted if posted is not None else form
    if isinstance(source, FormData):
        components = list(zip(source.getlist("component_sku"), source.getlist("component_qty"), strict=False))
    if product is not None and not components and product.type == ProductType.kit and product.sku:
        components = [(c.component.code, c.quantity) for c in product.sku.components]
    return render(
        request,
        "products/form.html",
        status_code=status_code,
        user=user,
        active="products",
        form=form,
        ptype=ptype,
        types=TYPES,
        error=error,
        field=getattr(error, "field", None),
        product=product,
        components=components or [("", "1")],
        variants=variants or [],
    )


@router.get("/products/new")
def new_product_form(
    request: Request, type: str = "single", code: str = "", name: str = "", user: User = Depends(page_writer)
) -> Response:
    # code and name come prefilled from an order line Kura did not know (an order on hold for its SKU)
    form = {"type": type if type in TYPES else "single", "active": "1", "code": code.strip(), "name": name.strip()}
    return _form_page(request, user, form)


@router.post("/products/new/variants")
async def variant_grid(request: Request, user: User = Depends(page_writer)) -> Response:
    """htmx: the variant rows for the axes typed so far (a server round-trip, so no client-side code)."""
    form = await request.form()
    try:
        rows = variant_rows(str(form.get("code", "")), _axes_from(form))
        error = None
    except Invalid as exc:
        rows, error = [], exc.message
    return render(request, "products/_variants.html", variants=rows, error=error, form=form)


@router.post("/products/new")
async def create_product(
    request: Request, user: User = Depends(page_writer), db: Database = Depends(get_db)
) -> Response:
    form = await request.form()
    ptype = str(form.get("type", ""))
    variants: list[dict[str, Any]] = []
    try:
        if ptype not in TYPES:
            raise Invalid("type", i18n.gettext("Choose a product type: single, kit or group."))
        fields = _fields_from(form)
        with db.transaction() as s:  # all or nothing: a failing variant leaves no product behind
            if ptype == ProductType.single:
                product = create_single(s, str(form.get("code", "")), fields)
            elif ptype == ProductType.kit:
                product = create_kit(s, str(form.get("code", "")), fields, _components_from(form))
            else:
                axes = _axes_from(form)
                variants = _posted_variants(form, axes)
                if not axes:
                    raise Invalid(
                        "axis_name_1", i18n.gettext("A group needs at least one axis, e.g. カラー with values 赤, 青.")
                    )
                product = create_group(
                    s,
                    str(form.get("code", "")),
                    fields,
                    [n for n, _ in axes],
                    _variants_from(form, [n for n, _ in axes]),
                )
            product_id = product.id
    except KuraError as exc:
        if ptype == ProductType.group and not variants:
            variants = _posted_variants(form, None)
        return _form_page(request, user, form, error=exc, status_code=422, variants=variants)
    return RedirectResponse(f"/products/{product_id}?saved=created", status_code=303)


def _posted_variants(form: FormData, axes: Sequence[tuple[str, list[str]]] | None) -> list[dict[str, Any]]:
    """The variant rows as posted, so a form with an error comes back as the user left it."""
    names = [n for n, _ in axes] if axes else [str(form.get(f"axis_name_{n}", "")).strip() for n in range(1, 4)]
    names = [n for n in names if n]
    rows = []
    prices = form.getlist("variant_price")
    for i, (key, sku) in enumerate(zip(form.getlist("variant_key"), form.getlist("variant_sku"), strict=False)):
        combo = str(key).split("|")
        rows.append(
            {
                "sku": sku,
                "key": key,
                "values": dict(zip(names, combo, strict=False)),
                "selling_price": prices[i] if i < len(prices) else "",
            }
        )
    return rows


# ---------------------------------------------------------------- edit


def _edit_values(product: Product) -> dict[str, Any]:
    return {
        "type": product.type.value,
        "code": product.code,
        "name": product.name,
        "selling_price": product.selling_price,
        "retail_price": product.retail_price or "",
        "brand": product.brand or "",
        "description": product.description or "",
        "images": "\n".join(product.images or []),
        "active": "1" if product.active else "",
    }


def _load(db: Database, product_id: int) -> Product:
    with db.reader() as s:
        product = get_product(s, product_id)
        for sku in product.skus:
            _ = [c.component.code for c in sku.components]
        s.expunge_all()
    return product


@router.get("/products/{product_id:int}/edit")
def edit_product_form(
    request: Request, product_id: int, user: User = Depends(page_writer), db: Database = Depends(get_db)
) -> Response:
    product = _load(db, product_id)
    return _form_page(request, user, _edit_values(product), product=product)


@router.post("/products/{product_id:int}/edit")
async def edit_product(
    request: Request, product_id: int, user: User = Depends(page_writer), db: Database = Depends(get_db)
) -> Response:
    form = await request.form()
    try:
        fields = _fields_from(form)
        with db.transaction() as s:
            product = get_product(s, product_id)
            update_product(
                s,
                product_id,
                {
                    "name": fields.name,
                    "selling_price": fields.selling_price,
                    "retail_price": fields.retail_price,
                    "brand": fields.brand,
                    "description": fields.description,
                    "images": list(fields.images),
                    "active": fields.active,
                },
            )
            if product.type == ProductType.kit and product.sku is not None:
                set_kit_components(s, product.sku.code, _components_from(form))
            if product.type == ProductType.group:
                for sku in product.skus:
                    price = whole_number(form.get(f"price__{sku.id}"), f"{sku.code} price", required=False, minimum=0)
                    update_sku(s, sku.code, {"selling_price": price, "active": yes(form.get(f"active__{sku.id}"))})
    except KuraError as exc:
        product = _load(db, product_id)
        values = dict(form)
        values["type"] = product.type.value
        values["code"] = product.code
        return _form_page(request, user, values, error=exc, status_code=422, product=product, posted=form)
    return RedirectResponse(f"/products/{product_id}?saved=updated", status_code=303)
