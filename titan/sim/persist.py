"""Keeping the simulated accounts in a file, so a paper Titan's book survives a restart.

Without it every restart of the paper profile starts a fresh venue: the wallet back to
the starting balance, no positions, and Titan's start-up reconciliation then books every
position it knew as closed at the mark. With `SimConfig.state_path` set, the simulator
loads the accounts (wallet, coins, leverage, positions, open orders and the recent order
and execution history), the Binance conditional orders, the id counters and the last
price per symbol from that file at start, and writes them back after changes (at most
every `SAVE_INTERVAL_S`) and at stop. `dump` snapshots into plain values on the event
loop; `save` (JSON, write, fsync) can then run on a worker thread. Writes are atomic
(temp file, fsync, `os.replace`): a crash leaves the previous complete file, never half
of one.

The generated market itself is not kept: it is seeded, so a restart regenerates the
same history; only the price resumes where it was (one jump inside the current minute).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from titan.sim.accounts import Account, SimExecution, SimOrder, SimPosition
from titan.sim.binance_algo import AlgoOrder

if TYPE_CHECKING:
    from titan.sim.server import Simulator

VERSION = 1
SAVE_INTERVAL_S = 0.25
# The history kept is short: the in-process venue does nothing while Titan is down, so
# after a restart Titan only looks up what was in flight at the stop. Short also keeps
# the snapshot, taken on the event loop, to a few milliseconds.
KEEP_CLOSED_ORDERS = 300  # finished orders kept per account (lookups by client id)
KEEP_EXECUTIONS = 1000  # executions kept per account

T = TypeVar("T")


_FIELDS: dict[type, tuple[str, ...]] = {}


def _encode(obj: Any) -> dict[str, Any]:
    names = _FIELDS.get(type(obj))
    if names is None:
        names = _FIELDS[type(obj)] = tuple(f.name for f in dataclasses.fields(obj))
    out: dict[str, Any] = {}
    for n in names:
        v = getattr(obj, n)
        out[n] = str(v) if isinstance(v, Decimal) else v
    return out


def _decode(cls: type[T], raw: dict[str, Any]) -> T:
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in raw:
            continue  # a field added since the file was written keeps its default
        v = raw[f.name]
        # Annotations are strings here (postponed evaluation): "Decimal", "Decimal | None".
        kw[f.name] = Decimal(v) if v is not None and "Decimal" in str(f.type) else v
    return cls(**kw)


def _counter_value(counter: itertools.count[int]) -> int:
    # itertools.count pickles as (count, (next_value,)): read it without advancing it.
    return int(counter.__reduce__()[1][0])


def dump(sim: Simulator) -> dict[str, Any]:
    eng = sim.engine
    accounts = {}
    for key, acc in eng.accounts.items():
        closed = [o for o in acc.orders if not o.is_open][-KEEP_CLOSED_ORDERS:]
        keep = {id(o) for o in closed} | {id(o) for o in acc.open.values()}
        accounts[key] = {
            "wallet_balance": str(acc.wallet_balance), "cum_realised": str(acc.cum_realised),
            "leverage": {s: str(v) for s, v in acc.leverage.items()},
            "coins": {c: str(v) for c, v in acc.coins.items()},
            "positions": [_encode(p) for p in acc.positions.values()],
            "orders": [_encode(o) for o in acc.orders if id(o) in keep],
            "executions": [_encode(e) for e in acc.executions[-KEEP_EXECUTIONS:]],
            "algo_orders": [_encode(a) for a in sim.binance_algo.orders.get(key, [])
                            if a.status == "NEW"],
        }
    return {
        "version": VERSION, "seed": sim.config.seed,
        "counters": {"num": _counter_value(eng._num), "seq": _counter_value(eng._seq)},
        "last": {s: str(p) for s, p in eng.last.items()},
        "spot_last": {s: str(p) for s, p in eng.spot_last.items()},
        "accounts": accounts,
    }


def restore(sim: Simulator, state: dict[str, Any]) -> None:
    """Put a `dump` back into a freshly built simulator (before it serves anything)."""
    if state.get("version") != VERSION:
        raise ValueError(f"simulator state file version {state.get('version')!r} is not "
                         f"{VERSION}")
    eng = sim.engine
    eng._num = itertools.count(int(state["counters"]["num"]))
    eng._seq = itertools.count(int(state["counters"]["seq"]))
    for key, raw in state["accounts"].items():
        acc = Account(key=key, wallet_balance=Decimal(raw["wallet_balance"]),
                      cum_realised=Decimal(raw["cum_realised"]))
        acc.leverage = {s: Decimal(v) for s, v in raw["leverage"].items()}
        acc.coins = {c: Decimal(v) for c, v in raw["coins"].items()}
        for p in raw["positions"]:
            pos = _decode(SimPosition, p)
            if pos.symbol in eng.specs:
                acc.positions[pos.symbol] = pos
        for o in raw["orders"]:
            acc.book(_decode(SimOrder, o))
        acc.executions = [_decode(SimExecution, e) for e in raw["executions"]]
        eng.accounts[key] = acc
        algos = [_decode(AlgoOrder, a) for a in raw.get("algo_orders", [])]
        if algos:
            sim.binance_algo.orders[key] = algos
    for sym, px in state.get("spot_last", {}).items():
        eng.spot_last[sym] = Decimal(px)
    for sym, px in state["last"].items():
        m = sim.market.symbols.get(sym)
        if m is not None:  # the price resumes where it was
            m.last = Decimal(px)
            m.path = float(m.last)


def load(path: Path) -> dict[str, Any] | None:
    """The kept state, or None when there is none yet. A file that is there but cannot
    be read or parsed raises: starting a fresh venue over it would lose the paper book."""
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    state: dict[str, Any] = json.loads(text)
    return state


def save(path: Path, state: dict[str, Any]) -> None:
    """Atomically replace `path` with `state`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as fh:
        json.dump(state, fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
