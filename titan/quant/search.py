"""The parameter search: optuna over the tunable parameters, each trial scored by a
backtest on the training window; then the gate on the later hold-out window.

* **Seeded** (`TPESampler(seed=…)`): one worker with the same input finds the same
  candidate. The active config is the first trial, so the search starts from it.
* **Bounded** by a trial count and by a time limit (`study.optimize(timeout=…)`): a search
  that runs out of time keeps the best trial it has evaluated, which still goes through
  the gate.
* **Parallel**: with an optuna storage (`storage`, e.g. `sqlite:///study.db` or any
  SQLAlchemy URL; `TITAN_QUANT_STORAGE`), several worker processes — on this machine or
  others pointed at the same storage — add trials to one study; the trial count is the
  study's total (`MaxTrialsCallback`). Worker k samples with seed + k.

Scoring replays the stored market data through the backtest engine (titan/backtest): the
same strategy code, gate, sizing and matching engine as every backtest; both configs on
the hold-out window use the same latency and the simulator's slippage model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from titan.quant.gate import DEFAULT_MIN_TRADES, Figures, gate, recently_rejected
from titan.quant.space import Param, current_values, out_of_range, search_space, select

Progress = Callable[[dict[str, Any]], None]


@dataclass
class SearchInput:
    """Everything a search needs, as plain JSON (the child process reads it from a file)."""

    config_version: str
    risk: dict[str, Any]
    strategies: dict[str, Any]
    strategy: str
    symbols: list[str]
    train: tuple[int, int]
    holdout: tuple[int, int]
    data_dir: str
    trials: int = 30
    timeout_s: float = 600.0
    seed: int = 21
    params: list[str] | None = None
    latency_ms: int = 200
    min_trades: int = DEFAULT_MIN_TRADES
    balance: str = "2000"
    rejected: list[dict[str, Any]] = field(default_factory=list)
    storage: str | None = None
    study_name: str = "titan-quant"
    workers: int = 1

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchInput:
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in d.items() if k in known}
        data["train"] = tuple(data["train"])
        data["holdout"] = tuple(data["holdout"])
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.__dict__.items()}


class SearchError(Exception):
    """The search cannot start (unknown strategy or parameter): the run fails with this."""


class Scorer:
    """Backtests of one strategy on one window; the market data is read once."""

    def __init__(self, inp: SearchInput, window: tuple[int, int], store: Any) -> None:
        from titan.backtest.source import StoreSource
        from titan.strategies.registry import builtin_specs

        self.inp = inp
        specs = builtin_specs()
        if inp.strategy not in specs:
            raise SearchError(f"unknown strategy {inp.strategy!r}")
        self.specs = specs
        self.spec = specs[inp.strategy]
        self.window = window
        self.source = StoreSource(store, tuple(inp.symbols), window[0], window[1],
                                  history_ms=self.spec.history_days * 86_400_000)
        counts = self.source.counts()
        self.rows = sum(n for k, n in counts.items()
                        if k.endswith("/trades") or k.endswith("/tickers"))

    def run(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The backtest report of the active config with `values` applied."""
        from titan.backtest.engine import Backtest, BacktestSpec
        from titan.backtest.report import build_report
        from titan.risk.config import apply_update, parse_config
        from titan.sim.config import SimConfig
        from titan.strategies.config import parse_strategies

        risk_changes, params = split(values, self.inp.strategy)
        risk = apply_update(parse_config(self.inp.risk), risk_changes)
        strategies = dict(self.inp.strategies)
        own = dict(strategies.get(self.inp.strategy, {}))
        own["params"] = {**own.get("params", {}), **params}
        strategies[self.inp.strategy] = own
        setting = parse_strategies(strategies, self.specs)[self.inp.strategy]
        bt = BacktestSpec(strategy=self.inp.strategy, symbols=tuple(sorted(self.inp.symbols)),
                          start_ms=self.window[0], end_ms=self.window[1], risk=risk,
                          setting=setting, latency_ms=self.inp.latency_ms,
                          sim=SimConfig(starting_balance=Decimal(self.inp.balance)))
        result = asyncio.run(Backtest(bt, self.source, self.spec).run())
        return build_report(result, config={})


def split(values: Mapping[str, Any], strategy: str) -> tuple[dict[str, Any], dict[str, Any]]:
    risk = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("risk.")}
    own = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(f"{strategy}.")}
    return risk, own


def space_for(inp: SearchInput) -> dict[str, Param]:
    from titan.strategies.registry import builtin_specs

    specs = builtin_specs()
    if inp.strategy not in specs:
        raise SearchError(f"unknown strategy {inp.strategy!r} (known: {', '.join(sorted(specs))})")
    try:
        return select(search_space(inp.strategy, specs[inp.strategy].params), inp.params)
    except ValueError as exc:
        raise SearchError(str(exc)) from None


def active_values(inp: SearchInput, space: Mapping[str, Param]) -> dict[str, Any]:
    params = dict(inp.strategies.get(inp.strategy, {}).get("params", {}))
    if not params:  # the version holds no params: the strategy's defaults
        from titan.strategies.registry import builtin_specs
        params = builtin_specs()[inp.strategy].params().model_dump(by_alias=True)
    return current_values(space, inp.risk, inp.strategy, params)


def _suggest(trial: Any, space: Mapping[str, Param]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in space.items():
        if p.integer:
            out[name] = trial.suggest_int(name, int(p.low), int(p.high))
        else:
            out[name] = trial.suggest_float(name, p.low, p.high)
    return out


def _study(inp: SearchInput, worker: int) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=inp.seed + worker)
    return optuna.create_study(direction="maximize", sampler=sampler, storage=inp.storage,
                               study_name=inp.study_name, load_if_exists=True)


def optimize(inp: SearchInput, scorer: Scorer, *, worker: int = 0,
             progress: Progress | None = None,
             clock: Callable[[], float] | None = None) -> Any:
    """Run trials into the study until the study holds `inp.trials` or time is up
    (`clock`, monotonic seconds, is checked after each trial; a test gives its own)."""
    import optuna

    now = clock or time.monotonic
    started = now()

    space = space_for(inp)
    study = _study(inp, worker)
    if worker == 0 and not study.trials:
        study.enqueue_trial(active_values(inp, space), user_attrs={"active": True})

    def objective(trial: Any) -> float:
        values = _suggest(trial, space)
        report = scorer.run(values)
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("trades", report["trades"])
        trial.set_user_attr("max_drawdown", report["max_drawdown"])
        trial.set_user_attr("net_pnl", report["net_pnl"])
        return float(report["net_pnl"])

    def tick(study: Any, trial: Any) -> None:
        if progress is not None:
            progress({"phase": "search", "trials_done": len(study.trials),
                      "trials": inp.trials})
        if now() - started >= inp.timeout_s:
            study.set_user_attr(f"timed_out_{worker}", True)
            study.stop()  # out of time: what was evaluated so far is what there is

    callbacks = [optuna.study.MaxTrialsCallback(inp.trials, states=None), tick]
    # optuna's own timeout too, in case a trial's callback never comes (wall clock only)
    study.optimize(objective, n_trials=inp.trials,
                   timeout=None if clock is not None else inp.timeout_s,
                   callbacks=callbacks, gc_after_trial=False)
    return study


def run(inp: SearchInput, store: Any, *, progress: Progress | None = None,
        now: datetime | None = None, clock: Callable[[], float] | None = None,
        wait_workers: Callable[[], None] | None = None) -> dict[str, Any]:
    """The whole search and gate. Returns the run's result: a proposal (with its evidence)
    or the reason there is none. Never touches Titan's config: it only reads `inp`."""
    import optuna

    now = now or datetime.now(UTC)
    space = space_for(inp)
    active = active_values(inp, space)
    out: dict[str, Any] = {"config_version": inp.config_version, "strategy": inp.strategy,
                           "symbols": list(inp.symbols), "train": list(inp.train),
                           "holdout": list(inp.holdout), "space": [p.as_dict() for p in
                                                                  space.values()],
                           "proposal": None}
    train = Scorer(inp, inp.train, store)
    hold = Scorer(inp, inp.holdout, store)
    if train.rows == 0 or hold.rows == 0:
        which = "training" if train.rows == 0 else "hold-out"
        out["note"] = f"too little data: no recorded trades in the {which} window"
        return out
    study = optimize(inp, train, progress=progress, clock=clock)
    if wait_workers is not None:
        wait_workers()  # the other workers' trials count too
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    out["trials"] = len(done)
    out["timed_out"] = len(done) < inp.trials and any(
        k.startswith("timed_out_") for k in study.user_attrs)
    if not done:
        out["note"] = "no trial finished within the time limit"
        return out
    baseline = next((t for t in done if t.user_attrs.get("active")), None)
    best = max(done, key=lambda t: (t.value, -t.number))
    changes = {n: {"from": active.get(n), "to": v} for n, v in sorted(best.params.items())
               if active.get(n) != v}
    out["best_trial"] = {"number": best.number, "train_net_pnl": best.user_attrs.get("net_pnl"),
                         "params": best.params}
    if not changes or (baseline is not None and best.value <= baseline.value):
        out["note"] = "no candidate beat the active config on the training window"
        return out
    rejected = [(datetime.fromisoformat(r["decided_at"].replace("Z", "+00:00")), r["changes"])
                for r in inp.rejected if r.get("decided_at")]
    if recently_rejected(changes, rejected, now):
        out["note"] = "the best candidate repeats a proposal rejected in the last 30 days"
        return out
    if progress is not None:
        progress({"phase": "hold-out", "trials_done": len(done), "trials": inp.trials})
    act = Figures.from_report(hold.run(active))
    cand_values = {**active, **{n: c["to"] for n, c in changes.items()}}
    cand = Figures.from_report(hold.run(cand_values))
    verdict = gate(act, cand, min_trades=inp.min_trades,
                   out_of_range=out_of_range(space, cand_values))
    out["gate"] = verdict.as_dict()
    out["holdout_figures"] = {"active": act.as_dict(), "candidate": cand.as_dict()}
    if not verdict.passed:
        out["note"] = "the best candidate failed the hold-out gate: " + "; ".join(
            verdict.failures)
        return out
    out["proposal"] = {"changes": changes, "active": act.as_dict(),
                       "candidate": cand.as_dict(), "gate": verdict.as_dict()}
    out["note"] = "a candidate passed the hold-out gate"
    return out
