"""Process settings (SPEC §12), read once at start from TITAN_* variables and an optional .env.

Runtime risk configuration is not here: it lives in SQLite as versions (SPEC §9).
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from titan.domain.reasons import Severity


class VenueName(StrEnum):
    PAPER = "paper"
    BYBIT = "bybit"
    BINANCE = "binance"


class LogLevel(StrEnum):
    TRACE = "TRACE"
    DEBUG = "DEBUG"
    INFO = "INFO"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TITAN_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path("./data")
    db_path: Path | None = None
    backup_dir: Path | None = None
    backup_keep: int = Field(14, ge=1)

    venue: VenueName = VenueName.PAPER
    bybit_api_key: SecretStr | None = None
    bybit_api_secret: SecretStr | None = None
    bybit_testnet: bool = False
    binance_api_key: SecretStr | None = None
    binance_api_secret: SecretStr | None = None
    bybit_url: str | None = None
    binance_url: str | None = None

    console_user: str = Field("titan_admin", min_length=1)
    console_password: SecretStr | None = None
    kill_code: SecretStr | None = None

    sim_seed: int = 20240601
    sim_port: int = Field(0, ge=0, le=65535)
    # Paper profile only: level bursts per symbol per minute in the built-in simulator's
    # live market. The simulator's own default (0.5, `titan sim`) lets the three default
    # whitelisted symbols go ~4-15 minutes before a burst lands on an armed trap; 4 makes a
    # freshly ARMED paper Titan trade within a few minutes (see docs/scavenger.md).
    sim_bursts_per_minute: float = Field(4.0, ge=0, le=60)
    # Paper profile only: the instruments the built-in simulator generates and can trade,
    # comma-separated (empty: its ten default symbols). Load tests use more.
    sim_symbols: str = ""

    @field_validator("sim_symbols")
    @classmethod
    def _known_sim_symbols(cls, v: str) -> str:
        from titan.sim.config import INSTRUMENTS

        names = [s.strip().upper() for s in v.split(",") if s.strip()]
        unknown = [s for s in names if s not in INSTRUMENTS]
        if unknown:
            raise ValueError(f"unknown to the simulator: {', '.join(unknown)}")
        return ",".join(names)

    # The NATS command bus (SPEC §11, docs/operations.md "NATS commands"). A credential is
    # required: user/password (here or as nats://user:password@host in the URL), a token,
    # or a .creds file (JWT + nkey). The server must demand it (scripts/ops/nats-server.conf).
    nats_url: str | None = None
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_token: SecretStr | None = None
    nats_creds: Path | None = None
    # The command subjects Titan obeys (comma-separated; default: the runbook's three and
    # the strategy switch, AI Quant's run/approve/reject).
    nats_subjects: str = ("titan.cmd.sys.halt,titan.cmd.risk.reload,titan.cmd.risk.update,"
                          "titan.cmd.strategy.set,titan.cmd.quant")

    # Addresses (or networks, e.g. 10.0.0.0/24) of reverse proxies whose X-Real-IP /
    # X-Forwarded-For Titan believes; empty: the TCP peer is always the client. Where Nginx
    # on the same host fronts Titan: 127.0.0.1.
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: str) -> str:
        items = [s.strip() for s in v.split(",") if s.strip()]
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {item!r}") from None
        return ",".join(items)

    @field_validator("nats_subjects")
    @classmethod
    def _known_subjects(cls, v: str) -> str:
        from titan.ops.nats_commands import SUBJECTS

        names = [s.strip() for s in v.split(",") if s.strip()]
        unknown = [s for s in names if s not in SUBJECTS]
        if unknown:
            raise ValueError(f"not a Titan command subject: {', '.join(unknown)} "
                             f"(known: {', '.join(SUBJECTS)})")
        return ",".join(names)

    # Push notifications (titan/notify/): apprise URLs, space- or comma-separated.
    notify_urls: str = ""
    notify_min_severity: Severity = Severity.HIGH
    notify_daily_at: str | None = None  # "HH:MM" UTC: the daily summary; unset = none

    @field_validator("notify_urls")
    @classmethod
    def _apprise_urls(cls, v: str) -> str:
        from titan.notify.notifier import BadNotifyUrl, build_target, split_urls

        for n, url in enumerate(split_urls(v), 1):
            try:
                build_target(url)
            except BadNotifyUrl:
                scheme = url.split("://", 1)[0] if "://" in url else url[:12]
                # Named by position and scheme only: the rest of the URL may hold a token.
                raise ValueError(f"URL {n} ({scheme}://...) is not a notification URL apprise "
                                 "understands (see docs/operations.md)") from None
        return v

    @field_validator("notify_min_severity", mode="before")
    @classmethod
    def _upper_severity(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("notify_daily_at")
    @classmethod
    def _hh_mm(cls, v: str | None) -> str | None:
        if v is None or v.strip() == "":
            return None
        hh, _, mm = v.strip().partition(":")
        if not (hh.isdigit() and mm.isdigit() and 0 <= int(hh) <= 23 and 0 <= int(mm) <= 59):
            raise ValueError("must be HH:MM in UTC, e.g. 08:00")
        return f"{int(hh):02d}:{int(mm):02d}"

    # The market-data recorder (SPEC §15, docs/marketdata.md): what Titan receives is kept
    # under <data dir>/marketdata/ for backtests, days older than the retention deleted.
    record_marketdata: bool = True
    marketdata_retention_days: int = Field(30, ge=1, le=3650)

    log_level: LogLevel = LogLevel.INFO
    log_json: bool = False

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("bybit_url", "binance_url", "nats_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if "://" not in v:
            raise ValueError("must be a URL with a scheme, e.g. http://127.0.0.1:9000")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _derive_paths(self) -> Self:
        if self.db_path is None:
            self.db_path = self.data_dir / "titan.db"
        if self.backup_dir is None:
            self.backup_dir = self.data_dir / "backups"
        self._check_nats()
        if self.venue is VenueName.BYBIT and not (self.bybit_api_key and self.bybit_api_secret):
            raise ValueError("TITAN_VENUE=bybit needs TITAN_BYBIT_API_KEY and TITAN_BYBIT_API_SECRET")
        if self.venue is VenueName.BINANCE and not (
            self.binance_api_key and self.binance_api_secret
        ):
            raise ValueError(
                "TITAN_VENUE=binance needs TITAN_BINANCE_API_KEY and TITAN_BINANCE_API_SECRET"
            )
        return self

    def _check_nats(self) -> None:
        if self.nats_user and not self.nats_password:
            raise ValueError("TITAN_NATS_USER needs TITAN_NATS_PASSWORD")
        if self.nats_creds is not None and not self.nats_creds.is_file():
            raise ValueError(f"TITAN_NATS_CREDS: no such file {self.nats_creds}")
        if not self.nats_url:
            return
        in_url = urlsplit(self.nats_url)
        if not (in_url.username or self.nats_user or self.nats_token or self.nats_creds):
            raise ValueError(
                "TITAN_NATS_URL: the command bus needs a credential: TITAN_NATS_USER and "
                "TITAN_NATS_PASSWORD (or nats://user:password@host:port), TITAN_NATS_TOKEN "
                "or TITAN_NATS_CREDS; see docs/operations.md")

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(s, strict=False)
                     for s in self.trusted_proxies.split(",") if s)

    @property
    def nats_subject_list(self) -> tuple[str, ...]:
        return tuple(s for s in self.nats_subjects.split(",") if s)

    @property
    def database(self) -> Path:
        assert self.db_path is not None
        return self.db_path

    @property
    def backups(self) -> Path:
        assert self.backup_dir is not None
        return self.backup_dir


class SettingsError(Exception):
    """An invalid setting, as one line naming it."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line per bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p != "__root__"]
            name = f"TITAN_{loc[0].upper()}" if loc else "settings"
            msg = err.get("msg", "invalid").removeprefix("Value error, ")
            parts.append(f"{name}: {msg}")
        raise SettingsError("invalid setting: " + "; ".join(parts)) from None
