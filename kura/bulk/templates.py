"""The downloadable .xlsx templates: one product sheet plus an instructions sheet, headers in Japanese and English.

Code columns (SKU, group code, component SKU, genre, JAN) are formatted as text, so Excel keeps leading zeros
and never turns a SKU into a number.
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from kura.bulk.columns import COLUMNS, SHEET_NAMES, ProductKind

_EXAMPLES: dict[ProductKind, list[list[str | int]]] = {
    "single": [["TEE-01", "オーガニックコットンTシャツ", 2980, 3480, "Kura", "", "", "100371", "", 1]],
    "kit": [
        ["GIFT-01", "ギフトセット", 5980, "", "Kura", "", "", "100371", 1, "TEE-01", 1],
        ["GIFT-01", "", "", "", "", "", "", "", "", "MUG-01", 2],
    ],
    "group": [
        ["POLO-01", "ポロシャツ", 3980, "", "Kura", "", "", "100371", 1, "カラー|サイズ", "POLO-01-RED-M", "赤", "M",
         "", "", "", ""],
        ["POLO-01", "", "", "", "", "", "", "", "", "", "POLO-01-RED-L", "赤", "L", "", 4280, ""],
    ],
}  # fmt: skip

_INSTRUCTIONS: dict[ProductKind, tuple[str, str]] = {
    "single": ("1行に1商品。SKUが既にあればその商品を更新し（入力したセルだけ）、なければ作成します。",
               "One product per row. An existing SKU is updated (only the cells you fill), a new one is created."),
    "kit": ("構成品ごとに1行。セットSKUを各行に繰り返し、商品情報は最初の行に。在庫は構成品から計算されます。",
            "One row per component; repeat the kit SKU on each row and fill the product columns on the first row. "
            "Kit stock is computed from the components."),
    "group": ("バリエーションごとに1行。同じグループコードの行は連続させ、商品情報は最初の行に。",
              "One row per variant; keep a group's rows together and fill the product columns on the first row."),
}  # fmt: skip

_GENERAL = (
    ("金額は円の整数（例：1980）。販売価格は必須。参考価格のみでは出品できません（参考価格は二重価格表示用）。",
     "Prices are whole yen (e.g. 1980). The selling price is required; a retail price alone is never listed "
     "(it is only the struck-through reference price)."),
    ("アップロードすると全行を確認し、問題のある行（セット・グループは全体）は反映されません。結果はレポート（.xlsx）で確認できます。",
     "An upload checks every row; a row with a problem (or its whole kit or group) changes nothing. The report "
     "(.xlsx) lists every problem with its sheet, row, column and fix."),
    ("CSV（UTF-8またはShift_JIS）も使えます。1ファイル1種類で、type列（single・kit・group）で種類を指定します。",
     "CSV (UTF-8 or Shift_JIS) works too: one product type per file, named by a `type` column (single, kit, group)."),
)  # fmt: skip

_HEADER_FILL = PatternFill("solid", fgColor="DDE7F0")
_REQUIRED_FILL = PatternFill("solid", fgColor="F6D5C5")


def template(kind: ProductKind) -> bytes:
    """The .xlsx template of one product type."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = SHEET_NAMES[kind]
    columns = COLUMNS[kind]
    sheet.append([c.header for c in columns])
    for i, column in enumerate(columns, 1):
        cell = sheet.cell(row=1, column=i)
        cell.font = Font(bold=True)
        cell.fill = _REQUIRED_FILL if column.required else _HEADER_FILL
        letter = get_column_letter(i)
        sheet.column_dimensions[letter].width = max(14, min(40, len(column.header) * 1.6))
        if column.kind == "code":
            for row in range(2, 1001):
                sheet.cell(row=row, column=i).number_format = "@"
    sheet.freeze_panes = "A2"
    help_sheet = book.create_sheet("説明 Instructions")
    help_sheet.append(["説明", "Instructions"])
    help_sheet.append(list(_INSTRUCTIONS[kind]))
    for ja, en in _GENERAL:
        help_sheet.append([ja, en])
    help_sheet.append([])
    help_sheet.append(["列", "Column", "必須 / Required", "入力方法", "How to fill"])
    for column in columns:
        help_sheet.append([column.ja, column.en, "○" if column.required else "", column.help_ja, column.help_en])
    help_sheet.append([])
    help_sheet.append(["例（商品シートにコピーして使えます）", "Example (copy to the product sheet)"])
    help_sheet.append([c.header for c in columns])
    for example in _EXAMPLES[kind]:
        help_sheet.append([str(v) for v in example])
    for letter, width in zip("ABCDE", (40, 40, 14, 50, 60), strict=True):
        help_sheet.column_dimensions[letter].width = width
    for row in help_sheet.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
