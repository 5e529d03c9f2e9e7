"""Rakuten's order states, the OMS ↔ Rakuten status table and the carrier codes, kept as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Progress:
    """One `orderProgress` code (reference §5)."""

    code: int
    name_ja: str
    label: str


ORDER_PROGRESS: Final[dict[int, Progress]] = {
    p.code: p
    for p in (
        Progress(100, "注文確認待ち", "Waiting for order confirmation"),
        Progress(200, "楽天処理中", "Waiting for Rakuten processing"),
        Progress(300, "発送待ち", "Waiting for shipping"),
        Progress(400, "変更確定待ち", "Waiting for change confirmation"),
        Progress(500, "発送済", "Shipped"),
        Progress(600, "支払手続き中", "Payment procedure in progress"),
        Progress(700, "支払手続き済", "Payment procedure completed"),
        Progress(800, "キャンセル確定待ち", "Waiting for cancellation confirmation"),
        Progress(900, "キャンセル確定", "Cancellation confirmed"),
    )
}

# The seed guide's closing table, row for row: OMS status → Rakuten store status (None = "Not Supported").
SEED_STATUS_TABLE: Final[tuple[tuple[str, str | None], ...]] = (
    ("Partial", "Waiting for Shipping"),
    ("New", "Waiting for Shipping"),
    ("RFP", "Waiting for Shipping"),
    ("Packed", "Processed"),
    ("Ready_to_Ship", None),
    ("In_transit", "Shipped"),
    ("Complete", "Payment procedure completed"),
    ("Cancel", "Cancellation Confirmed"),
    ("Cancel_in_progress", "Waiting for Cancellation Confirmation"),
    ("MP_unpaid", "Waiting for Rakuten Processing"),
    ("Return_initiated", None),
    ("Return_approved", None),
    ("Return_Rejected", None),
    ("Return_Putaway", None),
    ("Lost_in_transit", None),
    ("Failed_delivery_initiated", None),
    ("Failed_delivery_putaway", None),
    ("Failed_delivery_complete", None),
    ("Reject", None),
    ("Approval_inprocess", None),
    ("Rejection_inprocess", None),
    ("Cancel_by_seller_inprocess", None),
    ("Return_completed", None),
    ("Cancel_by_seller", None),
)

# The seed's Rakuten labels → orderProgress. "Processed" is no orderProgress: Kura shows it with a
# shop-defined sub-status of that name (reference §5 leaves the pairing open).
SEED_LABEL_TO_PROGRESS: Final[dict[str, int]] = {
    "Waiting for Rakuten Processing": 200,
    "Waiting for Shipping": 300,
    "Shipped": 500,
    "Payment procedure completed": 700,
    "Waiting for Cancellation Confirmation": 800,
    "Cancellation Confirmed": 900,
}
PACKED_SUB_STATUS: Final = "Processed"
"""Name of the RMS sub-status that stands for OMS "Packed"."""

# Rakuten → OMS. None: the order keeps its Rakuten status and the OMS flow is left alone
# (100 awaits the shop's confirmation, 400 is a pending edit, 600 is between 500 and 700).
PROGRESS_TO_OMS: Final[dict[int, str | None]] = {
    100: None,
    200: "MP_unpaid",
    300: "New",
    400: None,
    500: "In_transit",
    600: None,
    700: "Complete",
    800: "Cancel_in_progress",
    900: "Cancel",
}

# Statuses the seed imports ("orders of the last 90 days in the listed statuses"). The seed also lists
# "Paid", which matches no Rakuten label; 700 covers it (reference §5).
IMPORT_PROGRESS: Final[tuple[int, ...]] = (200, 300, 500, 700, 900)


@dataclass(frozen=True)
class RakutenTarget:
    """Where an OMS status lands on Rakuten: an orderProgress, or a sub-status name."""

    progress: int | None = None
    sub_status: str | None = None


def oms_status_for(progress: int) -> str | None:
    """The OMS status of a Rakuten order, or None when it keeps its Rakuten status only."""
    if progress not in PROGRESS_TO_OMS:
        raise ValueError(f"unknown Rakuten orderProgress {progress}; known codes are {sorted(ORDER_PROGRESS)}")
    return PROGRESS_TO_OMS[progress]


def rakuten_target_for(oms_status: str) -> RakutenTarget | None:
    """What the seed table says an OMS status is on Rakuten; None for "Not Supported"."""
    label = dict(SEED_STATUS_TABLE).get(oms_status, ...)
    if label is ...:
        raise ValueError(f"unknown OMS status {oms_status!r}")
    if label is None:
        return None
    if label == PACKED_SUB_STATUS:
        return RakutenTarget(sub_status=PACKED_SUB_STATUS)
    return RakutenTarget(progress=SEED_LABEL_TO_PROGRESS[str(label)])


@dataclass(frozen=True)
class Carrier:
    """A `deliveryCompany` code (reference §6; sent as a string)."""

    code: str
    name_ja: str
    name_en: str


CARRIERS: Final[dict[str, Carrier]] = {
    c.code: c
    for c in (
        Carrier("1000", "その他", "Other"),
        Carrier("1001", "ヤマト運輸", "Yamato Transport"),
        Carrier("1002", "佐川急便", "Sagawa Express"),
        Carrier("1003", "日本郵便", "Japan Post"),
        Carrier("1004", "西濃運輸", "Seino Transportation"),
        Carrier("1005", "セイノースーパーエクスプレス", "Seino Super Express"),
        Carrier("1006", "福山通運", "Fukuyama Transporting"),
        Carrier("1007", "名鉄運輸", "Meitetsu Transportation"),
        Carrier("1008", "トナミ運輸", "Tonami Transportation"),
        Carrier("1009", "第一貨物", "Daiichi Kamotsu"),
        Carrier("1010", "新潟運輸", "Niigata Unyu"),
        Carrier("1011", "中越運送", "Chuetsu Unso"),
        Carrier("1012", "岡山県貨物運送", "Okayama-ken Kamotsu Unso"),
        Carrier("1013", "久留米運送", "Kurume Unso"),
        Carrier("1014", "山陽自動車運送", "Sanyo Jidosha Unso"),
        Carrier("1015", "NXトランスポート", "NX Transport"),
        Carrier("1016", "エコ配", "Ecohai"),
        Carrier("1017", "EMS", "EMS"),
        Carrier("1018", "DHL", "DHL"),
        Carrier("1019", "FedEx", "FedEx"),
        Carrier("1020", "UPS", "UPS"),
        Carrier("1021", "日本通運", "Nippon Express"),
        Carrier("1022", "TNT", "TNT"),
        Carrier("1023", "OCS", "OCS"),
        Carrier("1024", "USPS", "USPS"),
        Carrier("1025", "SFエクスプレス", "SF Express"),
        Carrier("1026", "Aramex", "Aramex"),
        Carrier("1027", "SGHグローバル・ジャパン", "SGH Global Japan"),
        Carrier("1028", "Rakuten EXPRESS", "Rakuten EXPRESS"),
        Carrier("1029", "日本郵便 楽天倉庫出荷", "Japan Post (shipped from Rakuten warehouse)"),
        Carrier("1030", "ヤマト運輸 クロネコゆうパケット", "Yamato Transport Kuroneko Yu-Packet"),
        Carrier("1031", "名鉄NX運輸", "Meitetsu NX Transport"),
    )
}
