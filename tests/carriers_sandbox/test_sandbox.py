"""The carrier sandbox's contract: numbers, journeys on the clock, outcomes, admin endpoints."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from starlette.testclient import TestClient

from carriers_sandbox.carriers import valid_number
from tests.carriers_sandbox.conftest import DAY, HOUR, advance, make_client, request_body, ship, track, words


@pytest.mark.parametrize(("carrier", "prefix"), [("yamato", "4"), ("sagawa", "5"), ("japanpost", "6")])
def test_issued_numbers_have_valid_check_digits_and_are_unique(client: TestClient, carrier: str, prefix: str) -> None:
    numbers = [ship(client, carrier) for _ in range(200)]
    assert len(set(numbers)) == 200
    assert all(valid_number(n) and n.startswith(prefix) for n in numbers)


def test_numbers_and_outcomes_replay_with_the_same_seed() -> None:
    runs = []
    for _ in range(2):
        with make_client(seed=7, absent_rate=0.3, lost_rate=0.1) as c:
            numbers = [ship(c, "sagawa") for _ in range(20)]
            runs.append([(n, c.get(f"/_sandbox/parcels/{n}").json()["outcome"]) for n in numbers])
    assert runs[0] == runs[1]
    with make_client(seed=8) as c:
        assert ship(c, "sagawa") != runs[0][0][0]


def test_rates_shape_the_outcomes() -> None:
    with make_client(seed=1, absent_rate=0.3, failed_rate=0.1, lost_rate=0.1) as c:
        for _ in range(1000):
            ship(c, "yamato")
        outcomes = Counter(p["outcome"] for p in c.get("/_sandbox/parcels").json()["parcels"])
    assert 240 < outcomes["absent"] < 360
    assert 60 < outcomes["failed"] < 140
    assert 60 < outcomes["lost"] < 140
    assert outcomes["delivered"] + outcomes["absent"] + outcomes["failed"] + outcomes["lost"] == 1000


def test_parcel_moves_with_the_clock_in_the_carriers_words(client: TestClient) -> None:
    number = ship(client, "yamato")
    assert words(client, "yamato", number) == ["出荷指示"]
    advance(client, 4 * HOUR)
    assert words(client, "yamato", number)[-1] == "荷物受付"
    advance(client, 3 * DAY)
    assert words(client, "yamato", number) == ["出荷指示", "荷物受付", "発送済み", "作業店通過", "配達店到着",
                                               "配達中", "配達完了"]
    events = track(client, "yamato", number)[0]["events"]
    assert events[0]["at"] == "2025-06-02T10:00:00+09:00"
    assert events[1]["location"] == "東京都センター" and events[-1]["location"] == "大阪府センター"


def test_sagawa_and_japan_post_words(client: TestClient) -> None:
    sagawa, post = ship(client, "sagawa"), ship(client, "japanpost")
    advance(client, 3 * DAY)
    assert words(client, "sagawa", sagawa) == ["荷物受付", "↓集荷", "↓輸送中", "↓輸送中", "↓配達中", "⇒配達完了"]
    assert words(client, "japanpost", post) == ["引受", "中継", "通過", "到着", "持ち出し中", "お届け先にお届け済み"]


def test_absent_outcome_brings_the_parcel_back_then_redelivers(client: TestClient) -> None:
    number = ship(client)
    client.post(f"/_sandbox/parcels/{number}/outcome", json={"outcome": "absent"}).raise_for_status()
    advance(client, 4 * DAY)
    assert words(client, "yamato", number)[-5:] == ["配達中", "持戻（ご不在）", "再配達依頼受付", "配達中", "配達完了"]


def test_forced_outcomes_keep_what_already_happened(client: TestClient) -> None:
    number = ship(client, "japanpost")
    advance(client, 30 * HOUR)  # delivered by now
    before = words(client, "japanpost", number)
    assert before[-1] == "お届け先にお届け済み"
    response = client.post(f"/_sandbox/parcels/{number}/outcome", json={"outcome": "lost"})
    assert response.status_code == 409

    other = ship(client, "japanpost")
    advance(client, 10 * HOUR)
    done = words(client, "japanpost", other)
    view = client.post(f"/_sandbox/parcels/{other}/outcome", json={"outcome": "lost"}).json()
    assert [e["word"] for e in view["events"]][: len(done)] == done
    advance(client, 5 * DAY)
    assert words(client, "japanpost", other)[-2:] == ["調査中", "亡失"]


def test_forced_outcome_at_once(client: TestClient) -> None:
    number = ship(client, "sagawa")
    client.post(f"/_sandbox/parcels/{number}/outcome", json={"outcome": "returned", "at_once": True})
    assert words(client, "sagawa", number)[-3:] == ["ご不在", "配達不能", "返送"]


def test_force_after_the_first_attempt(client: TestClient) -> None:
    number = ship(client)
    client.post(f"/_sandbox/parcels/{number}/outcome", json={"outcome": "absent"})
    advance(client, 32 * HOUR)  # brought back at 29 h, redelivery booked at 31 h
    assert words(client, "yamato", number)[-1] == "再配達依頼受付"
    client.post(f"/_sandbox/parcels/{number}/outcome", json={"outcome": "failed", "at_once": True})
    assert words(client, "yamato", number)[-6:] == ["持戻（ご不在）", "再配達依頼受付", "配達中", "持戻（ご不在）",
                                                    "お届け先不明", "返品"]


def test_cancel(client: TestClient) -> None:
    number = ship(client, "sagawa")
    assert client.delete(f"/v1/sagawa/shipments/{number}").json() == {"tracking_number": number, "cancelled": True}
    assert words(client, "sagawa", number)[-1] == "取消"
    later = ship(client, "sagawa")
    advance(client, 4 * HOUR)
    response = client.delete(f"/v1/sagawa/shipments/{later}")
    assert response.status_code == 409 and response.json()["current"] == "↓集荷"
    assert client.delete("/v1/yamato/shipments/" + later).status_code == 404  # another carrier's parcel


def test_unknown_numbers_are_not_found_in_the_carriers_words(client: TestClient) -> None:
    results = track(client, "yamato", "123456789013", "123456789014")
    assert [r["found"] for r in results] == [False, False]
    assert results[0]["message"] == "伝票番号誤り"


def test_at_most_ten_numbers_per_query(client: TestClient) -> None:
    response = client.get("/v1/yamato/tracking", params={"numbers": ",".join(["123456789013"] * 11)})
    assert response.status_code == 400


def test_bad_requests(client: TestClient) -> None:
    response = client.post("/v1/yamato/shipments", json=request_body(time_slot="1214", cod_amount=-5))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any("time_slot" in e for e in errors) and any("cod_amount" in e for e in errors)
    assert client.post("/v1/sagawa/shipments", json=request_body(time_slot="12")).status_code == 201
    assert client.post("/v1/dhl/shipments", json=request_body()).status_code == 404
    assert client.post("/v1/yamato/shipments", content=b"[1]").status_code == 400
    assert client.post("/v1/yamato/shipments", content=b"{").status_code == 400
    assert client.get("/v1/yamato/tracking").status_code == 400


def test_clock_and_config_admin(client: TestClient) -> None:
    assert client.get("/_sandbox/clock").json()["jst"] == "2025-06-02T10:00:00+09:00"
    assert client.post("/_sandbox/clock/set", json={"at": "2025-07-01T09:00:00"}).json()["jst"] == \
        "2025-07-01T09:00:00+09:00"  # fmt: skip
    config = client.put("/_sandbox/config", json={"lost_rate": 0.5, "timings": {"pickup": 60}}).json()
    assert config["lost_rate"] == 0.5 and config["timings"]["pickup"] == 60 and config["timings"]["out"] > 0
    assert client.put("/_sandbox/config", json={"db_path": "x"}).status_code == 400


def test_faults_and_reset(client: TestClient) -> None:
    number = ship(client)
    client.put("/_sandbox/faults", json={"count": 2, "status": 503})
    assert client.get("/v1/yamato/tracking", params={"numbers": number}).status_code == 503
    assert client.post("/v1/yamato/shipments", json=request_body()).status_code == 503
    assert client.get("/v1/yamato/tracking", params={"numbers": number}).status_code == 200
    client.post("/_sandbox/reset")
    assert client.get("/_sandbox/parcels").json()["parcels"] == []
    assert client.get(f"/_sandbox/parcels/{number}").status_code == 404


def test_state_survives_a_restart_in_a_sqlite_file(tmp_path: object) -> None:
    db = f"{tmp_path}/carriers.db"
    with make_client(db_path=db) as c:
        number = ship(c, "japanpost")
        c.put("/_sandbox/config", json={"absent_rate": 0.25})
    with make_client(db_path=db) as c:
        assert c.get(f"/_sandbox/parcels/{number}").json()["carrier"] == "japanpost"
        assert c.get("/_sandbox/config").json()["absent_rate"] == 0.25
        assert ship(c, "japanpost") != number


def test_sandbox_imports_nothing_from_kura() -> None:
    code = ("import sys, carriers_sandbox.app, carriers_sandbox.testing, carriers_sandbox.cli; "
            "bad = [m for m in sys.modules if m == 'kura' or m.startswith('kura.')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_command_line_options() -> None:
    from carriers_sandbox.cli import build_parser

    args = build_parser().parse_args(["--port", "9999", "--clock", "manual", "--seed", "3"])
    assert (args.port, args.clock, args.seed) == (9999, "manual", 3)
