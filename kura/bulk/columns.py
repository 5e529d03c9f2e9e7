"""The columns of the bulk upload files, per product type, as data: header text (Japanese / English), whether a
value is required, and how to fill it. Templates, the parser and the report all read this one table.

A header matches by its full text ("SKU / SKU"), by its Japanese or English half alone, or by its key, ignoring
case, spaces and full-width forms; so a sheet exported from another tool with "商品名" or "Name" works too.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "code", "yen", "int", "flag", "list"]
ProductKind = Literal["single", "kit", "group"]
PRODUCT_KINDS: tuple[ProductKind, ...] = ("single", "kit", "group")


@dataclass(frozen=True)
class Column:
    key: str
    ja: str
    en: str
    kind: Kind = "text"
    required: bool = False
    help_en: str = ""
    help_ja: str = ""

    @property
    def header(self) -> str:
        return f"{self.ja} / {self.en}"


def _c(key: str, ja: str, en: str, kind: Kind = "text", required: bool = False, help_en: str = "",
       help_ja: str = "") -> Column:  # fmt: skip
    return Column(key, ja, en, kind, required, help_en, help_ja)


_NAME = _c("name", "商品名", "Name", required=True, help_en="Up to 255 characters.", help_ja="255文字以内。")
_SELLING = _c("selling_price", "販売価格", "Selling price", "yen", True,
              "Whole yen; sent to Rakuten as the standard price (required).",
              "円・整数。楽天の販売価格（standardPrice）になります（必須）。")  # fmt: skip
_RETAIL = _c("retail_price", "参考価格", "Retail price", "yen", False,
             "Whole yen, above the selling price; shown struck through as the reference price. Optional.",
             "円・整数。販売価格より高い額。楽天の二重価格（referencePrice）として表示。任意。")  # fmt: skip
_BRAND = _c("brand", "ブランド", "Brand", help_en="Optional.", help_ja="任意。")
_DESCRIPTION = _c("description", "商品説明", "Description", help_en="Optional; HTML allowed.", help_ja="任意。HTML可。")
_IMAGES = _c("images", "画像URL", "Image URLs", "list",
             help_en="http(s) URLs separated by | ; Rakuten cabinet URLs are listed with the item.",
             help_ja="http(s)のURLを | で区切って入力。楽天キャビネットのURLは出品時に送信されます。")  # fmt: skip
_GENRE = _c("genre_id", "ジャンルID", "Genre ID", "code",
            help_en="6-digit Rakuten genre ID; needed to list unless the store has a default.",
            help_ja="楽天のジャンルID（6桁）。ストアの既定値がなければ出品に必要。")  # fmt: skip
_JAN = _c("jan", "JANコード", "JAN", "code", help_en="Optional barcode.", help_ja="任意。")
_ACTIVE = _c("active", "有効", "Active", "flag", help_en="1 = on sale (default), 0 = inactive.",
             help_ja="1＝販売中（既定）、0＝停止。")  # fmt: skip

SINGLE: tuple[Column, ...] = (
    _c("sku", "SKU", "SKU", "code", True, "Case-sensitive; letters, digits, - and _ to list on Rakuten (≤ 32).",
       "大文字小文字を区別。楽天に出品するなら英数字・-・_ の32文字以内。"),
    _NAME, _SELLING, _RETAIL, _BRAND, _DESCRIPTION, _IMAGES, _GENRE, _JAN, _ACTIVE,
)  # fmt: skip

KIT: tuple[Column, ...] = (
    _c("sku", "セットSKU", "Kit SKU", "code", True, "One row per component; repeat the kit SKU on each row.",
       "構成品ごとに1行。各行にセットSKUを繰り返します。"),
    _NAME, _SELLING, _RETAIL, _BRAND, _DESCRIPTION, _IMAGES, _GENRE, _ACTIVE,
    _c("component_sku", "構成SKU", "Component SKU", "code", True, "An existing single or variant SKU.",
       "既存の単品またはバリエーションのSKU。"),
    _c("component_quantity", "構成数量", "Quantity per kit", "int", True, "Whole number ≥ 1.", "1以上の整数。"),
)  # fmt: skip

GROUP: tuple[Column, ...] = (
    _c("code", "グループコード", "Group code", "code", True,
       "The parent code (Rakuten manage number); one row per variant, rows of a group together.",
       "親コード（楽天の商品管理番号）。バリエーションごとに1行、同じグループの行は連続させてください。"),
    _NAME, _SELLING, _RETAIL, _BRAND, _DESCRIPTION, _IMAGES, _GENRE, _ACTIVE,
    _c("axes", "バリエーション項目", "Variation axes", "list", True, "Axis names separated by |, e.g. カラー|サイズ.",
       "項目名を | で区切る（例：カラー|サイズ）。"),
    _c("sku", "SKU", "SKU", "code", True, "The variant's SKU.", "バリエーションのSKU。"),
    _c("value1", "バリエーション値1", "Variation value 1", required=True, help_en="Value on the first axis.",
       help_ja="1つ目の項目の値。"),
    _c("value2", "バリエーション値2", "Variation value 2", help_en="Value on the second axis.",
       help_ja="2つ目の項目の値。"),
    _c("value3", "バリエーション値3", "Variation value 3", help_en="Value on the third axis.",
       help_ja="3つ目の項目の値。"),
    _c("variant_selling_price", "SKU販売価格", "Variant selling price", "yen",
       help_en="Optional; empty = the group's selling price.", help_ja="任意。空欄ならグループの販売価格。"),
    _c("variant_retail_price", "SKU参考価格", "Variant retail price", "yen",
       help_en="Optional; empty = the group's retail price.", help_ja="任意。空欄ならグループの参考価格。"),
)  # fmt: skip

# Accepted beyond the template's three value columns (Rakuten allows six axes).
EXTRA_GROUP = tuple(_c(f"value{i}", f"バリエーション値{i}", f"Variation value {i}") for i in (4, 5, 6))

COLUMNS: dict[ProductKind, tuple[Column, ...]] = {"single": SINGLE, "kit": KIT, "group": GROUP}
SHEET_NAMES: dict[ProductKind, str] = {"single": "単品 Single", "kit": "セット Kit", "group": "バリエーション Group"}
TYPE_COLUMN = ("type", "種類", "商品種類", "product type")
TYPE_WORDS: dict[str, ProductKind] = {
    "single": "single", "単品": "single", "kit": "kit", "set": "kit", "セット": "kit", "group": "group",
    "variation": "group", "バリエーション": "group",
}  # fmt: skip


def normalize(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", str(text)).lower().split())


def header_index(kind: ProductKind) -> dict[str, Column]:
    """Every accepted spelling of every header of `kind` → its column."""
    index: dict[str, Column] = {}
    columns = COLUMNS[kind] + (EXTRA_GROUP if kind == "group" else ())
    for column in columns:
        for spelling in (column.header, column.ja, column.en, column.key):
            index.setdefault(normalize(spelling), column)
    return index


def sheet_kind(sheet_name: str) -> ProductKind | None:
    """Which product type a sheet holds, by its name (the template's, or a plain single/kit/group)."""
    name = normalize(sheet_name)
    for kind, template_name in SHEET_NAMES.items():
        if name == normalize(template_name) or name == kind:
            return kind
    for word, kind in TYPE_WORDS.items():
        if normalize(word) in name:
            return kind
    return None
