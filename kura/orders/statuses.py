"""Order statuses and the one table of allowed transitions between them (with their effect on stock).

The statuses are the OMS statuses of the seed's status table (seed/000_…txt), spelled as there, plus
Delivered (set when the carrier confirms delivery). The flow the table encodes:

- Intake: MP_unpaid (the marketplace has not released the order: "Waiting for Rakuten processing")
  → New. Orders that need the seller's approval wait in Approval_inprocess → New, or go
  Rejection_inprocess → Reject.
- Fulfilment: New → Partial (some lines' stock reserved) → RFP (ready for picking: every line reserved)
  → Packed → Ready_to_Ship → In_transit → Delivered → Complete. Ready_to_Ship may be skipped
  (Rakuten has no such state) and Complete may follow In_transit directly (Rakuten's "payment procedure
  completed" can arrive before the carrier's confirmation). Each step may go back one step until the
  parcel leaves (a packing error, a lost reservation).
- Cancellation before shipping: by the buyer/marketplace Cancel_in_progress → Cancel, by the seller
  Cancel_by_seller_inprocess → Cancel_by_seller; both may be refused and go back to where the order
  was in fulfilment. Manual orders may be cancelled at once (→ Cancel) before they ship.
- Delivery problems: In_transit → Lost_in_transit (→ Delivered/Complete if found) or
  Failed_delivery_initiated → In_transit (redelivery) or → Failed_delivery_putaway (back on the shelf)
  → Failed_delivery_complete.
- Returns: Delivered/Complete → Return_initiated → Return_approved | Return_Rejected;
  Return_approved → Return_Putaway (restocked) → Return_completed, or straight to Return_completed
  (not restocked). Return_Rejected → Complete.

Stock: entering a cancelled or rejected status releases the order's reservations; entering In_transit
consumes them (the units left the warehouse). Putaway statuses will restock once shipping lands.
"""

from __future__ import annotations

import enum


class OrderStatus(enum.StrEnum):
    New = "New"
    Partial = "Partial"
    RFP = "RFP"
    Packed = "Packed"
    Ready_to_Ship = "Ready_to_Ship"
    In_transit = "In_transit"
    Delivered = "Delivered"
    Complete = "Complete"
    Cancel = "Cancel"
    Cancel_in_progress = "Cancel_in_progress"
    MP_unpaid = "MP_unpaid"
    Return_initiated = "Return_initiated"
    Return_approved = "Return_approved"
    Return_Rejected = "Return_Rejected"
    Return_Putaway = "Return_Putaway"
    Lost_in_transit = "Lost_in_transit"
    Failed_delivery_initiated = "Failed_delivery_initiated"
    Failed_delivery_putaway = "Failed_delivery_putaway"
    Failed_delivery_complete = "Failed_delivery_complete"
    Reject = "Reject"
    Approval_inprocess = "Approval_inprocess"
    Rejection_inprocess = "Rejection_inprocess"
    Cancel_by_seller_inprocess = "Cancel_by_seller_inprocess"
    Return_completed = "Return_completed"
    Cancel_by_seller = "Cancel_by_seller"


S = OrderStatus

# Statuses from which an order can still be cancelled: it has not left the warehouse.
_UNSHIPPED = frozenset({S.New, S.Partial, S.RFP, S.Packed, S.Ready_to_Ship})
_CANCEL_PATHS = frozenset({S.Cancel_in_progress, S.Cancel_by_seller_inprocess, S.Cancel})

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.MP_unpaid: frozenset({S.New, S.Cancel_in_progress, S.Cancel}),
    S.Approval_inprocess: frozenset({S.New, S.Rejection_inprocess}),
    S.Rejection_inprocess: frozenset({S.Reject, S.Approval_inprocess}),
    S.New: frozenset({S.Partial, S.RFP, S.Approval_inprocess} | _CANCEL_PATHS),
    S.Partial: frozenset({S.New, S.RFP} | _CANCEL_PATHS),
    S.RFP: frozenset({S.New, S.Partial, S.Packed} | _CANCEL_PATHS),
    S.Packed: frozenset({S.RFP, S.Ready_to_Ship, S.In_transit} | _CANCEL_PATHS),
    S.Ready_to_Ship: frozenset({S.Packed, S.In_transit} | _CANCEL_PATHS),
    S.In_transit: frozenset({S.Delivered, S.Complete, S.Lost_in_transit, S.Failed_delivery_initiated}),
    S.Delivered: frozenset({S.Complete, S.Return_initiated}),
    S.Complete: frozenset({S.Return_initiated}),
    S.Cancel_in_progress: frozenset({S.Cancel} | _UNSHIPPED | {S.MP_unpaid}),
    S.Cancel_by_seller_inprocess: frozenset({S.Cancel_by_seller} | _UNSHIPPED),
    S.Lost_in_transit: frozenset({S.In_transit, S.Delivered, S.Complete}),
    S.Failed_delivery_initiated: frozenset({S.In_transit, S.Failed_delivery_putaway}),
    S.Failed_delivery_putaway: frozenset({S.Failed_delivery_complete}),
    S.Return_initiated: frozenset({S.Return_approved, S.Return_Rejected}),
    S.Return_approved: frozenset({S.Return_Putaway, S.Return_completed}),
    S.Return_Rejected: frozenset({S.Complete}),
    S.Return_Putaway: frozenset({S.Return_completed}),
    # Final: nothing follows.
    S.Cancel: frozenset(),
    S.Cancel_by_seller: frozenset(),
    S.Reject: frozenset(),
    S.Failed_delivery_complete: frozenset(),
    S.Return_completed: frozenset(),
}

FINAL: frozenset[OrderStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

# Entering one of these gives the order's held stock back; entering In_transit consumes it.
RELEASES_STOCK: frozenset[OrderStatus] = frozenset({S.Cancel, S.Cancel_by_seller, S.Reject})
CONSUMES_STOCK: frozenset[OrderStatus] = frozenset({S.In_transit})


def allowed_next(status: OrderStatus) -> list[OrderStatus]:
    """The statuses an order in `status` may move to, in declaration order (for menus and messages)."""
    nxt = TRANSITIONS[status]
    return [s for s in OrderStatus if s in nxt]


def can_move(current: OrderStatus, to: OrderStatus) -> bool:
    return to in TRANSITIONS[current]
