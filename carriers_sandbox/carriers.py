"""The three simulated carriers: the words their tracking pages use, their offices, slot codes and
number ranges. The client side normalises these words; nothing here knows Kura's statuses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CarrierProfile:
    key: str  # path segment: /v1/{key}/...
    name_ja: str
    number_prefix: str  # first digit(s) of the 11-digit body of issued numbers
    words: dict[str, str]  # journey step -> the event text the carrier shows
    transit_words: tuple[str, ...]  # one transit scan each
    office: str  # suffix of an office name: 東京都 + センター
    hub: str
    time_slots: dict[str, str]  # the carrier's own slot code -> label
    not_found: str
    tracking_url: str


_COMMON = {"investigating": "調査中", "cancelled": "取消"}

PROFILES: dict[str, CarrierProfile] = {
    p.key: p
    for p in (
        CarrierProfile(
            key="yamato", name_ja="ヤマト運輸", number_prefix="4",
            words={**_COMMON, "info": "出荷指示", "pickup": "荷物受付", "out": "配達中", "absent": "持戻（ご不在）",
                   "redelivery": "再配達依頼受付", "delivered": "配達完了", "failed": "お届け先不明",
                   "returned": "返品", "lost": "紛失"},
            transit_words=("発送済み", "作業店通過", "配達店到着"),
            office="センター", hub="ベース店",
            time_slots={"0812": "午前中", "1416": "14時～16時", "1618": "16時～18時", "1820": "18時～20時",
                        "1921": "19時～21時"},
            not_found="伝票番号誤り",
            tracking_url="https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number01={number}",
        ),
        CarrierProfile(
            key="sagawa", name_ja="佐川急便", number_prefix="5",
            words={**_COMMON, "info": "荷物受付", "pickup": "↓集荷", "out": "↓配達中", "absent": "ご不在",
                   "redelivery": "再配達", "delivered": "⇒配達完了", "failed": "配達不能", "returned": "返送",
                   "lost": "紛失"},
            transit_words=("↓輸送中", "↓輸送中"),
            office="営業所", hub="中継センター",
            time_slots={"01": "午前中", "12": "12時～14時", "14": "14時～16時", "16": "16時～18時",
                        "18": "18時～20時", "19": "19時～21時", "04": "18時～21時"},
            not_found="該当なし",
            tracking_url="https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo={number}",
        ),
        CarrierProfile(
            key="japanpost", name_ja="日本郵便", number_prefix="6",
            words={**_COMMON, "pickup": "引受", "out": "持ち出し中", "absent": "ご不在のため持ち戻り",
                   "redelivery": "再配達受付", "delivered": "お届け先にお届け済み",
                   "failed": "あて所に尋ねあたりません", "returned": "差出人に返送", "lost": "亡失"},
            transit_words=("中継", "通過", "到着"),
            office="郵便局", hub="郵便局（地域区分局）",
            time_slots={"60": "午前中", "62": "12時～14時", "63": "14時～16時", "64": "16時～18時",
                        "65": "18時～20時", "67": "19時～21時", "66": "20時～21時"},
            not_found="お問い合わせ番号が見つかりません",
            tracking_url="https://trackings.post.japanpost.jp/services/srv/search/direct?searchKind=S003"
                         "&locale=ja&SVID=023&reqCodeNo1={number}",
        ),
    )
}  # fmt: skip


def mod7(body: str) -> str:
    """The 12-digit number of an 11-digit body with its 7DR check digit (body mod 7)."""
    return f"{body}{int(body) % 7}"


def valid_number(number: str) -> bool:
    return len(number) == 12 and number.isdigit() and int(number[:11]) % 7 == int(number[11])
