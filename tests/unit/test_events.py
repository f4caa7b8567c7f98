"""Event payloads are typed fields; `data` is their wire view (journal, /ws, logs)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.event_samples import SAMPLES, TS, sample
from titan import events as ev
from titan.jsonsafe import as_jsonable


def _event_classes() -> set[type[ev.Event]]:
    found: set[type[ev.Event]] = set()
    todo = [ev.Event]
    while todo:
        for sub in todo.pop().__subclasses__():
            # dataclass(slots=True) makes a new class: the module's name is the real one.
            if sub.__module__ == "titan.events" and getattr(ev, sub.__name__, None) is sub:
                found.add(sub)
            todo.append(sub)
    return found


def test_every_event_class_has_a_sample_and_a_json_wire_view() -> None:
    classes = _event_classes()
    assert len(classes) > 30
    assert classes == set(SAMPLES), classes ^ set(SAMPLES)
    for cls in classes:
        e = sample(cls)
        wire = json.loads(json.dumps(as_jsonable(e.as_dict())))
        assert wire["event"] == cls.name and wire["message"] == "sample"
        assert isinstance(wire["data"], dict)


def test_fields_go_to_the_wire_camel_cased_or_under_their_given_key() -> None:
    e = sample(ev.OrderFilled, client_order_id="abc", exec_id="x9")
    assert e.data["clientOrderId"] == "abc" and e.data["execId"] == "x9"
    assert "client_order_id" not in e.data
    h = sample(ev.HaltChanged, from_state="OPEN", to="HARD_HALT")
    assert h.data["from"] == "OPEN" and h.data["to"] == "HARD_HALT" and "fromState" not in h.data
    c = sample(ev.ConfigChanged, version_tag="v1")
    assert c.data["version_tag"] == "v1" and "versionTag" not in c.data
    p = sample(ev.PhaseChanged, phase_name="Sentinel")
    assert p.data["name"] == "Sentinel" and p.name == "PHASE_CHANGED"


def test_unset_optional_fields_are_left_out_and_reports_are_spread() -> None:
    gate = sample(ev.SignalRejected, side="Buy", qty="0.1", intent_id="i1")
    trap = sample(ev.SignalRejected, trap_id="t1")
    assert gate.data["intentId"] == "i1" and "trapId" not in gate.data
    assert trap.data["trapId"] == "t1" and "intentId" not in trap.data and "side" not in trap.data
    kill = sample(ev.KillSwitchActivated, report={"flat": True, "haltState": "HARD_HALT"})
    assert kill.data == {"actor": "ops", "accepted": True, "flat": True,
                         "haltState": "HARD_HALT"}
    sprung = sample(ev.TrapSprung, order=ev.SpringOrder(order_type="Limit", qty="0.1"))
    assert sprung.data["orderType"] == "Limit" and sprung.data["qty"] == "0.1"
    assert "stopLoss" not in sprung.data and "order" not in sprung.data


def test_a_typed_report_spreads_its_own_wire_view() -> None:
    class Decision:
        def as_dict(self) -> dict[str, object]:
            return {"qty": "0.5", "limitsHit": ["maxLeverage"]}

    e = sample(ev.OrderSizeReduced, decision=Decision())
    assert e.data == {"symbol": "BTCUSDT", "qty": "0.5", "limitsHit": ["maxLeverage"]}


def test_an_event_cannot_be_given_a_loose_data_dict_or_miss_a_field() -> None:
    with pytest.raises(TypeError):
        ev.TradeClosed(ts=TS, message="m", data={"symbol": "BTCUSDT"})  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ev.TradeClosed(ts=TS, message="m", symbol="BTCUSDT")  # type: ignore[call-arg]


def test_alert_causes_are_alerts_on_the_wire() -> None:
    for cls in (ev.BackupFailed, ev.StateNotSaved, ev.OrderCancelledByVenue):
        e = sample(cls)
        assert isinstance(e, ev.Alert) and e.name == "ALERT"
    assert sample(ev.BackupFailed).data["kind"] == "BACKUP_FAILED"


def test_data_is_a_fresh_dict_each_time() -> None:
    e = sample(ev.TradeClosed, net_pnl=str(Decimal("1.5")))
    e.data["netPnl"] = "999"
    assert e.data["netPnl"] == "1.5"
