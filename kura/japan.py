"""Japan-specific data and checks: the 47 prefectures, postal codes, phone numbers, names, included tax."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from kura.errors import Invalid


@dataclass(frozen=True, slots=True)
class Prefecture:
    code: str  # JIS X 0401, "01"–"47"
    name: str  # as Rakuten sends it, e.g. 東京都
    name_en: str


# JIS X 0401 (japan-commerce.md §9.2). Rakuten sends the full kanji name.
PREFECTURES: tuple[Prefecture, ...] = tuple(
    Prefecture(f"{i:02d}", name, name_en)
    for i, (name, name_en) in enumerate(
        [
            ("北海道", "Hokkaido"), ("青森県", "Aomori"), ("岩手県", "Iwate"), ("宮城県", "Miyagi"),
            ("秋田県", "Akita"), ("山形県", "Yamagata"), ("福島県", "Fukushima"), ("茨城県", "Ibaraki"),
            ("栃木県", "Tochigi"), ("群馬県", "Gunma"), ("埼玉県", "Saitama"), ("千葉県", "Chiba"),
            ("東京都", "Tokyo"), ("神奈川県", "Kanagawa"), ("新潟県", "Niigata"), ("富山県", "Toyama"),
            ("石川県", "Ishikawa"), ("福井県", "Fukui"), ("山梨県", "Yamanashi"), ("長野県", "Nagano"),
            ("岐阜県", "Gifu"), ("静岡県", "Shizuoka"), ("愛知県", "Aichi"), ("三重県", "Mie"),
            ("滋賀県", "Shiga"), ("京都府", "Kyoto"), ("大阪府", "Osaka"), ("兵庫県", "Hyogo"),
            ("奈良県", "Nara"), ("和歌山県", "Wakayama"), ("鳥取県", "Tottori"), ("島根県", "Shimane"),
            ("岡山県", "Okayama"), ("広島県", "Hiroshima"), ("山口県", "Yamaguchi"), ("徳島県", "Tokushima"),
            ("香川県", "Kagawa"), ("愛媛県", "Ehime"), ("高知県", "Kochi"), ("福岡県", "Fukuoka"),
            ("佐賀県", "Saga"), ("長崎県", "Nagasaki"), ("熊本県", "Kumamoto"), ("大分県", "Oita"),
            ("宮崎県", "Miyazaki"), ("鹿児島県", "Kagoshima"), ("沖縄県", "Okinawa"),
        ],
        start=1,
    )
)  # fmt: skip


def _short(name: str) -> str:
    """東京都 → 東京, 北海道 stays 北海道 (it has no 都/府/県 suffix)."""
    return name[:-1] if name[-1] in "都府県" else name


_LOOKUP: dict[str, Prefecture] = {}
for _p in PREFECTURES:
    for _key in (_p.code, str(int(_p.code)), _p.name, _short(_p.name), _p.name_en.lower()):
        _LOOKUP[_key] = _p


def prefecture(value: str | int) -> Prefecture:
    """Finds a prefecture by JIS code (13, "13"), kanji name (東京都, 東京) or English name (Tokyo)."""
    key = unicodedata.normalize("NFKC", str(value)).strip()
    found = _LOOKUP.get(key) or _LOOKUP.get(key.lower())
    if found is None:
        raise Invalid(
            "prefecture",
            f"{value!r} is not one of Japan's 47 prefectures; give its name (e.g. 東京都) or its code 01–47.",
        )
    return found


def split_prefecture(address: str) -> tuple[Prefecture | None, str]:
    """Splits a leading prefecture off an address by longest-prefix match (京都府 before 京都)."""
    text = unicodedata.normalize("NFKC", address).strip()
    for p in sorted(PREFECTURES, key=lambda p: -len(p.name)):
        if text.startswith(p.name):
            return p, text[len(p.name) :].strip()
    return None, text


_POSTAL_RE = re.compile(r"^〒?\s*(\d{3})[-‐ー−]?(\d{4})$")


def postal_code(value: str) -> str:
    """Normalises a Japanese postal code to NNN-NNNN; accepts 7 digits, 〒, full-width digits and dashes."""
    text = unicodedata.normalize("NFKC", value).strip()
    match = _POSTAL_RE.match(text)
    if match is None:
        raise Invalid("postal_code", f"{value!r} is not a Japanese postal code; write 7 digits as NNN-NNNN.")
    return f"{match.group(1)}-{match.group(2)}"


_PHONE_SEPARATORS = re.compile(r"[\s\-‐ー−()（）]")


def phone(value: str) -> str:
    """Normalises a Japanese phone number to its digits (0312345678); accepts dashes, full width and +81."""
    text = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", value).strip())
    if text.startswith("+81"):
        text = "0" + text[3:].lstrip("0")
    if not (text.isdigit() and text.startswith("0") and len(text) in (10, 11)):
        raise Invalid(
            "phone", f"{value!r} is not a Japanese phone number; give 10 or 11 digits starting with 0 (or +81)."
        )
    return text


def full_name(family_name: str, given_name: str) -> str:
    """Family name first, joined by a full-width space, as carriers' single name field expects."""
    return f"{family_name}\u3000{given_name}".strip()


def included_tax(amount: int, rate_percent: int) -> int:
    """Consumption tax contained in a tax-inclusive amount, rounded down (the usual rule, stack-notes §8)."""
    rate = Decimal(rate_percent) / 100
    return int((Decimal(amount) * rate / (1 + rate)).quantize(Decimal(1), rounding=ROUND_DOWN))
