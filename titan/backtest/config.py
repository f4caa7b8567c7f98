"""What a run is configured with: `--config TAG|FILE`, resolved to risk limits and the
strategies' settings exactly as a config version holds them.

* no `--config`: the defaults a fresh Titan starts with;
* a FILE: JSON, either a config version as the API lists it (`{"config": {...},
  "strategies": {...}}`) or the risk limits alone (`{"maxRiskPerTrade": 0.02, ...}`);
* a TAG (`2025-03-10T12:00:00Z`): that version from Titan's database in the data folder
  (read-only; the trading database is never written by a backtest).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from titan.risk.config import RiskConfig, RiskConfigError, parse_config
from titan.strategies.config import (
    StrategiesConfig,
    StrategyConfigError,
    parse_strategies,
    strategies_to_api,
)
from titan.strategies.registry import StrategySpec


class BacktestError(Exception):
    """A run that cannot start (bad arguments, no data, unknown names): exit code 2."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    risk: RiskConfig
    strategies: StrategiesConfig
    source: str  # "defaults", "file:<path>" or "version:<tag>"

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "risk": self.risk.to_api(),
                "strategies": strategies_to_api(self.strategies)}


def load_config(value: str | None, data_dir: Path,
                specs: dict[str, StrategySpec]) -> RunConfig:
    if not value:
        return RunConfig(RiskConfig(), parse_strategies({}, specs), "defaults")
    path = Path(value)
    if path.is_file():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BacktestError(f"config file {path}: not readable JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise BacktestError(f"config file {path}: expected a JSON object")
        risk = raw.get("config", raw) if "config" in raw or "strategies" in raw else raw
        return _parse(risk, raw.get("strategies"), specs, f"file:{path}")
    db = data_dir / "titan.db"
    row = None
    if db.is_file():
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                row = con.execute("SELECT config, strategies FROM config_versions "
                                  "WHERE version_tag = ?", (value,)).fetchone()
            finally:
                con.close()
        except sqlite3.Error as exc:
            raise BacktestError(f"cannot read config versions from {db}: {exc}") from None
    if row is None:
        raise BacktestError(f"unknown config tag {value!r}: no such version in {db} "
                            f"(and no such file)")
    return _parse(json.loads(row[0]), json.loads(row[1] or "{}"), specs, f"version:{value}")


def _parse(risk: Any, strategies: Any, specs: dict[str, StrategySpec],
           source: str) -> RunConfig:
    if not isinstance(risk, dict):
        raise BacktestError(f"{source}: the risk limits must be a JSON object")
    try:
        cfg = parse_config(risk)
        settings = parse_strategies(strategies if isinstance(strategies, dict) else {}, specs)
    except (RiskConfigError, StrategyConfigError) as exc:
        raise BacktestError(f"{source}: invalid configuration: {exc}") from None
    return RunConfig(cfg, settings, source)
