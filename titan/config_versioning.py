"""The versioned configuration (SPEC §9, §14): the risk limits and the strategies'
settings, as immutable versions.

The active `RiskConfig` is the newest row of `config_versions`. Every change — a risk
update (API, console, the NATS `titan.cmd.risk.update`), a whitelist change, a
rollback — writes a new version and then takes effect at once: the listeners given to
`on_change` (the risk engine's `update_config`) are called with the new config and a
`CONFIG_CHANGED` event goes on the bus. Nothing needs a restart.

Decisions (documented in the README):
- A change that would leave the config exactly as it is (same values, adding a symbol
  that is listed, removing one that is not) is a no-op: no new version, `changed=False`.
- Rolling back to the tag of the active version is refused (`AlreadyActive`, 409): it
  would change nothing. Rolling back to any older tag makes a new version even if its
  values happen to equal the active ones: the operator asked for that exact version.
- `reload()` (NATS `titan.cmd.risk.reload`) re-reads the active version from the
  database and hands it to the listeners again; it makes no version (nothing changed).
- Writes are serialised by a lock, so two concurrent updates never lose one another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain.reasons import Severity
from titan.events import Alert, ConfigChanged
from titan.risk.config import (
    RiskConfig,
    RiskConfigError,
    apply_update,
    apply_whitelist_change,
    parse_config,
)
from titan.store.audit import Actor
from titan.store.config_versions import ConfigVersion, ConfigVersionStore
from titan.store.db import Database
from titan.strategies.config import (
    StrategiesConfig,
    StrategyConfigError,
    apply_change,
    parse_strategies,
    strategies_to_api,
)
from titan.strategies.registry import StrategySpec

# The built-in simulator's instruments: the whitelist's fallback universe until the core
# passes the execution venue's instrument list.
SIM_SYMBOLS: frozenset[str] = frozenset({
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT", "ADAUSDT", "AVAXUSDT",
    "LINKUSDT", "LTCUSDT",
})

Listener = Callable[[RiskConfig], object]
StrategiesListener = Callable[[StrategiesConfig], object]
KnownSymbols = Callable[[], "set[str] | frozenset[str]"]


class ConfigError(Exception):
    """A refused configuration change; `status` is the HTTP status it maps to."""

    status = 422
    code = "VALIDATION_ERROR"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidConfig(ConfigError):
    """Out of range, unknown field, unknown symbol: names each field (422)."""

    @classmethod
    def from_risk(cls, exc: RiskConfigError) -> InvalidConfig:
        details = [{"field": k, "message": v} for k, v in exc.errors.items()]
        return cls(f"invalid value for: {', '.join(exc.errors)}", details)


class UnknownStrategy(ConfigError):
    status = 404
    code = "STRATEGY_NOT_FOUND"


class VersionNotFound(ConfigError):
    status = 404
    code = "VERSION_NOT_FOUND"


class AlreadyActive(ConfigError):
    status = 409
    code = "ALREADY_ACTIVE"


class StaleVersion(ConfigError):
    """The change was prepared against a version that is no longer the active one."""

    status = 409
    code = "STALE_VERSION"


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """What a change did: the (possibly new) active version, and which fields moved."""

    version: ConfigVersion
    changed: bool
    previous_tag: str
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "previous_version_tag": self.previous_tag,
                "changes": self.changes, **self.version.as_dict()}


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: {"from": old.get(k), "to": new.get(k)}
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


class ConfigService:
    def __init__(self, db: Database, bus: EventBus, clock: Clock,
                 known_symbols: KnownSymbols | None = None,
                 strategy_specs: Mapping[str, StrategySpec] | None = None) -> None:
        self.store = ConfigVersionStore(db)
        self.specs: dict[str, StrategySpec] = dict(strategy_specs or {})
        self._strategies: StrategiesConfig = {}
        self._strategy_listeners: list[StrategiesListener] = []
        self.bus = bus
        self.clock = clock
        self.known_symbols: KnownSymbols = known_symbols or (lambda: set(SIM_SYMBOLS))
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._active: RiskConfig | None = None
        self._version: ConfigVersion | None = None

    # -- reading -------------------------------------------------------------------

    @property
    def active(self) -> RiskConfig:
        if self._active is None:
            raise RuntimeError("ConfigService.start() has not run")
        return self._active

    @property
    def version(self) -> ConfigVersion:
        if self._version is None:
            raise RuntimeError("ConfigService.start() has not run")
        return self._version

    @property
    def version_tag(self) -> str | None:
        return None if self._version is None else self._version.version_tag

    @property
    def strategies(self) -> StrategiesConfig:
        """The active version's strategy settings (every registered strategy)."""
        return dict(self._strategies)

    def on_strategies_change(self, listener: StrategiesListener) -> None:
        """Call `listener(settings)` after every new version (and on reload)."""
        self._strategy_listeners.append(listener)

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(config)` after every change (and on reload). Returns unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> ConfigVersion:
        """Load the active version; on a fresh database, write the defaults as the first."""
        async with self._lock:
            latest = await self.store.latest()
            if latest is None:
                defaults = RiskConfig().to_api()
                latest = await self.store.insert(
                    self.clock.now(), defaults, actor="titan", source="startup",
                    reason="initial defaults",
                    strategies=strategies_to_api(parse_strategies({}, self.specs)))
                logger.info("CONFIG_CREATED version={} (defaults)", latest.version_tag)
            self._install(latest, self._parse_stored(latest))
            logger.info("CONFIG_LOADED version={}", latest.version_tag)
            return latest

    def _parse_stored(self, version: ConfigVersion) -> RiskConfig:
        try:
            return parse_config(version.config)
        except RiskConfigError as exc:
            # A stored version no longer valid under today's model (e.g. hand-edited):
            # refuse to start rather than trade on a guess.
            raise RuntimeError(
                f"config version {version.version_tag} in the database is invalid: {exc}") from None

    def _parse_stored_strategies(self, version: ConfigVersion) -> StrategiesConfig:
        try:
            return parse_strategies(version.strategies, self.specs)
        except StrategyConfigError as exc:
            raise RuntimeError(f"config version {version.version_tag} in the database has "
                               f"invalid strategy settings: {exc}") from None

    async def reload(self, actor: Actor | None = None) -> ConfigVersion:
        """Re-read the active version from the database and apply it (no new version)."""
        async with self._lock:
            latest = await self.store.latest()
            if latest is None:
                raise VersionNotFound("no configuration version in the database")
            config = self._parse_stored(latest)
            self._install(latest, config)
            self._notify(config)
            self._notify_strategies()
            who = actor.name if actor else "titan"
            self.bus.publish(ConfigChanged(
                ts=self.clock.now(), message=f"config {latest.version_tag} reloaded by {who}",
                version_tag=latest.version_tag, reload=True, actor=who))
            return latest

    # -- changes -------------------------------------------------------------------

    async def update_risk(self, changes: Mapping[str, Any], actor: Actor,
                          reason: str = "") -> ChangeResult:
        """A partial update (camelCase keys; `maxAccountLeverage` = `maxLeverage`).

        Raises `InvalidConfig` naming each bad field; nothing changes then.
        """
        if not isinstance(changes, Mapping):
            raise InvalidConfig("the risk update must be a JSON object",
                                [{"field": "body", "message": "must be an object"}])
        if not changes:
            raise InvalidConfig("invalid value for: body (no risk field given)",
                                [{"field": "body", "message": "give at least one field"}])
        async with self._lock:
            try:
                new = apply_update(self.active, changes)
            except RiskConfigError as exc:
                raise InvalidConfig.from_risk(exc) from None
            unknown = sorted(set(new.whitelist) - set(self.active.whitelist) - set(self._known()))
            if unknown:
                raise InvalidConfig(
                    "invalid value for: whitelist",
                    [{"field": "whitelist",
                      "message": f"unknown symbol(s) on the execution venue: {', '.join(unknown)}"}])
            return await self._commit(new, actor, reason or "risk update")

    async def change_whitelist(self, action: str, symbol: str, actor: Actor,
                               reason: str = "") -> ChangeResult:
        """Add or remove one symbol. Adding needs the venue to list the symbol (else 422);
        adding a listed symbol or removing an unlisted one is a no-op (`changed=False`)."""
        async with self._lock:
            current = self.active
            if action == "add" and symbol in current.whitelist:
                return self._unchanged()
            if action == "remove" and symbol not in current.whitelist:
                if symbol not in self._known():
                    raise InvalidConfig(f"unknown symbol {symbol} on the execution venue",
                                        [{"field": "symbol", "message": "unknown symbol"}])
                return self._unchanged()
            try:
                new = apply_whitelist_change(current, action, symbol, self._known())
            except RiskConfigError as exc:
                raise InvalidConfig.from_risk(exc) from None
            verb = "added to" if action == "add" else "removed from"
            return await self._commit(new, actor, reason or f"{symbol} {verb} the whitelist")

    async def update_strategy(self, name: str, change: Mapping[str, Any], actor: Actor,
                              reason: str = "") -> ChangeResult:
        """Switch a strategy on or off, set its phases or (some of) its parameters.

        Unknown strategy → `UnknownStrategy` (404); a bad field → `InvalidConfig` (422)
        naming it; nothing changes then. The same values again change nothing."""
        spec = self.specs.get(name)
        if spec is None:
            raise UnknownStrategy(f"no strategy named {name!r}; known: "
                                  f"{', '.join(sorted(self.specs)) or 'none'}",
                                  {"strategy": name})
        async with self._lock:
            current = self._strategies[name]
            merged = dict(change)
            if "enabled" in merged and merged["enabled"] != current.enabled:
                merged.setdefault("reason", reason)
            try:
                new = apply_change(current, spec, merged)
            except StrategyConfigError as exc:
                details = [{"field": k, "message": v} for k, v in exc.errors.items()]
                raise InvalidConfig(f"invalid value for: {', '.join(exc.errors)}",
                                    details) from None
            if new == current:
                return self._unchanged()
            word = ("enabled" if new.enabled else "disabled") if new.enabled != current.enabled \
                else "settings changed"
            return await self._commit(self.active, actor, reason or f"{name} {word}",
                                      strategies={**self._strategies, name: new})

    async def apply_changes(self, risk: Mapping[str, Any],
                            strategies: Mapping[str, Mapping[str, Any]], actor: Actor,
                            reason: str, *, expected_version: str | None = None) -> ChangeResult:
        """Risk fields and strategies' parameters changed together: one new version (AI
        Quant's approved proposals). `expected_version`: refuse (`StaleVersion`, 409)
        unless that tag is still the active one. Bad fields → `InvalidConfig`, no change."""
        async with self._lock:
            if expected_version is not None and self.version.version_tag != expected_version:
                raise StaleVersion(
                    f"the active config is {self.version.version_tag}, not {expected_version}",
                    {"active": self.version.version_tag, "expected": expected_version})
            try:
                new = apply_update(self.active, risk) if risk else self.active
            except RiskConfigError as exc:
                raise InvalidConfig.from_risk(exc) from None
            settings = dict(self._strategies)
            for name, params in sorted(strategies.items()):
                spec = self.specs.get(name)
                if spec is None:
                    raise UnknownStrategy(f"no strategy named {name!r}", {"strategy": name})
                try:
                    settings[name] = apply_change(settings[name], spec, {"params": dict(params)})
                except StrategyConfigError as exc:
                    details = [{"field": k, "message": v} for k, v in exc.errors.items()]
                    raise InvalidConfig(f"invalid value for: {', '.join(exc.errors)}",
                                        details) from None
            return await self._commit(new, actor, reason, strategies=settings)

    async def rollback(self, version_tag: str, actor: Actor, reason: str = "") -> ChangeResult:
        """A new active version equal to `version_tag`, with `rolled_back_from` = that tag."""
        async with self._lock:
            target = await self.store.get(version_tag)
            if target is None:
                raise VersionNotFound(f"no config version {version_tag}",
                                      {"version_tag": version_tag})
            if target.version_tag == self.version.version_tag:
                raise AlreadyActive(f"{version_tag} is already the active version",
                                    {"version_tag": version_tag})
            config = self._parse_stored(target)
            strategies = self._parse_stored_strategies(target)
            previous = self.version.version_tag
            return await self._commit(
                config, actor, reason or f"rollback to {version_tag} (was {previous})",
                strategies=strategies, rolled_back_from=version_tag, force=True)

    async def versions(self, limit: int = 100, before_tag: str | None = None) -> list[ConfigVersion]:
        """Newest first. `before_tag` pages on: versions older than that one."""
        before_id = None
        if before_tag is not None:
            anchor = await self.store.get(before_tag)
            if anchor is None:
                raise VersionNotFound(f"no config version {before_tag}", {"before": before_tag})
            before_id = anchor.id
        return await self.store.page(limit, before_id)

    # -- internals -----------------------------------------------------------------

    def _known(self) -> set[str] | frozenset[str]:
        try:
            return self.known_symbols()
        except Exception:
            logger.opt(exception=True).warning("CONFIG_KNOWN_SYMBOLS_FAILED using simulator list")
            return SIM_SYMBOLS

    def _unchanged(self) -> ChangeResult:
        return ChangeResult(self.version, False, self.version.version_tag)

    async def _commit(self, new: RiskConfig, actor: Actor, reason: str, *,
                      strategies: StrategiesConfig | None = None,
                      rolled_back_from: str | None = None, force: bool = False) -> ChangeResult:
        old = self.version
        new_api = new.to_api()
        strategies = self._strategies if strategies is None else strategies
        new_strategies = strategies_to_api(strategies)
        changes = diff(old.config, new_api)
        changes.update({f"strategies.{k}": v for k, v in
                        diff(strategies_to_api(self._strategies), new_strategies).items()})
        if not changes and not force:
            return self._unchanged()
        version = await self.store.insert(self.clock.now(), new_api, actor=actor.name,
                                          source=actor.source, reason=reason,
                                          rolled_back_from=rolled_back_from,
                                          strategies=new_strategies)
        self._install(version, new)
        self._notify(new)
        self._notify_strategies()
        self.bus.publish(ConfigChanged(
            ts=self.clock.now(),
            message=f"config {version.version_tag} by {actor.name} via {actor.source}: {reason}",
            version_tag=version.version_tag, previous=old.version_tag, actor=actor.name,
            source=actor.source, reason=reason, rolled_back_from=rolled_back_from,
            changes=changes))
        return ChangeResult(version, True, old.version_tag, changes)

    def _install(self, version: ConfigVersion, config: RiskConfig) -> None:
        self._version = version
        self._active = config
        self._strategies = self._parse_stored_strategies(version)

    def _notify_strategies(self) -> None:
        self._call(self._strategy_listeners, dict(self._strategies), "the new strategy settings")

    def _notify(self, config: RiskConfig) -> None:
        self._call(self._listeners, config, "the new risk config")

    def _call(self, listeners: list[Any], value: Any, what: str) -> None:
        """Every listener gets `value`; one that fails is logged and alerted (CRITICAL),
        never keeps the others from it."""
        for listener in tuple(listeners):
            try:
                listener(value)
            except Exception:
                logger.opt(exception=True).error("CONFIG_LISTENER_FAILED listener={}", listener)
                self.bus.publish(Alert(
                    ts=self.clock.now(), severity=Severity.CRITICAL,
                    message=f"a component failed to take {what}: {listener}"))
