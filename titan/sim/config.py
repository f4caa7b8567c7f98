"""Simulator configuration and the instrument table.

Everything that shapes the simulated venue lives here so a test or the paper profile
can build a `SimConfig` in one expression and get a reproducible venue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """A linear USDT perpetual as Bybit's instruments-info describes it."""

    symbol: str
    base_coin: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    start_price: Decimal
    max_leverage: Decimal = Decimal(100)
    min_notional: Decimal = Decimal(5)

    @property
    def price_scale(self) -> int:
        # Bybit's priceScale follows the tick as written ("0.010" → 3 decimals).
        return max(0, -self.tick_size.as_tuple().exponent)  # type: ignore[operator]


def _spec(sym: str, tick: str, step: str, min_qty: str, max_qty: str, price: str,
          lev: int = 100) -> InstrumentSpec:
    return InstrumentSpec(sym, sym.removesuffix("USDT"), Decimal(tick), Decimal(step),
                          Decimal(min_qty), Decimal(max_qty), Decimal(price), Decimal(lev))


# Steps and minimums as Bybit lists them for these perpetuals (late 2024); start
# prices are in the right range so sizing code sees realistic notionals.
INSTRUMENTS: dict[str, InstrumentSpec] = {
    s.symbol: s
    for s in (
        _spec("BTCUSDT", "0.10", "0.001", "0.001", "1190", "65000.00"),
        _spec("ETHUSDT", "0.01", "0.01", "0.01", "7240", "3400.00"),
        _spec("SOLUSDT", "0.010", "0.1", "0.1", "79770", "150.000"),
        _spec("XRPUSDT", "0.0001", "1", "1", "3689070", "0.6000", 75),
        _spec("DOGEUSDT", "0.00001", "1", "1", "30709000", "0.15000", 75),
        _spec("BNBUSDT", "0.01", "0.01", "0.01", "2180", "580.00", 75),
        _spec("ADAUSDT", "0.0001", "1", "1", "6430200", "0.4500", 75),
        _spec("AVAXUSDT", "0.001", "0.1", "0.1", "65680", "30.000", 50),
        _spec("LINKUSDT", "0.001", "0.1", "0.1", "147410", "14.000", 50),
        _spec("LTCUSDT", "0.01", "0.1", "0.1", "36660", "80.00", 50),
    )
}

DEFAULT_SYMBOLS: tuple[str, ...] = tuple(INSTRUMENTS)

# A wider universe for load tests and benchmarks (one-way mode holds one position per
# symbol, so flattening 50 positions needs 50 symbols). A simulator lists, generates and
# trades only the symbols its SimConfig names (`symbols`; TITAN_SIM_SYMBOLS in paper mode).
_EXTRA = (
    ("DOTUSDT", "6.50"), ("ATOMUSDT", "7.20"), ("NEARUSDT", "5.10"), ("APTUSDT", "8.40"),
    ("ARBUSDT", "0.80"), ("OPUSDT", "1.70"), ("FILUSDT", "4.60"), ("ETCUSDT", "24.0"),
    ("BCHUSDT", "380"), ("UNIUSDT", "9.30"), ("AAVEUSDT", "150"), ("INJUSDT", "22.0"),
    ("SUIUSDT", "1.90"), ("SEIUSDT", "0.40"), ("TIAUSDT", "5.60"), ("WLDUSDT", "2.10"),
    ("FTMUSDT", "0.70"), ("ALGOUSDT", "0.18"), ("XLMUSDT", "0.11"), ("HBARUSDT", "0.07"),
    ("ICPUSDT", "9.80"), ("VETUSDT", "0.03"), ("GRTUSDT", "0.19"), ("SANDUSDT", "0.33"),
    ("MANAUSDT", "0.36"), ("AXSUSDT", "5.40"), ("EGLDUSDT", "31.0"), ("THETAUSDT", "1.40"),
    ("RUNEUSDT", "4.20"), ("KASUSDT", "0.15"), ("STXUSDT", "1.80"), ("IMXUSDT", "1.50"),
    ("LDOUSDT", "1.60"), ("CRVUSDT", "0.35"), ("MKRUSDT", "1900"), ("SNXUSDT", "1.90"),
    ("COMPUSDT", "50.0"), ("DYDXUSDT", "1.30"), ("GMXUSDT", "25.0"), ("PEPEUSDT", "0.00001000"),
    ("ORDIUSDT", "35.0"), ("JUPUSDT", "0.90"), ("PYTHUSDT", "0.35"), ("ENAUSDT", "0.50"),
)


def _extra_spec(sym: str, price: str) -> InstrumentSpec:
    p = Decimal(price)
    # Tick ~ 1/10,000 of the price and a step worth ~ 1 USDT, like Bybit's own listings.
    tick = Decimal(1).scaleb(p.adjusted() - 4)
    step = Decimal(1).scaleb(max(0, -p.adjusted()) if p < 1 else -max(0, p.adjusted()))
    step = max(step, Decimal("0.001")) if p >= 1 else step
    tick, step = _plain(tick), _plain(step)
    return InstrumentSpec(sym, sym.removesuffix("USDT"), tick, step, step,
                          _plain(step * 10**7), p.quantize(tick), Decimal(50))


def _plain(d: Decimal) -> Decimal:
    """`1E+5` → `100000`: venues write plain decimals, and so must the simulator."""
    return Decimal(format(d, "f"))


EXTRA_INSTRUMENTS: dict[str, InstrumentSpec] = {s: _extra_spec(s, p) for s, p in _EXTRA}
INSTRUMENTS.update(EXTRA_INSTRUMENTS)


@dataclass(slots=True)
class SimConfig:
    """How the simulated venue behaves.

    `accounts` maps API key → secret; each key is one account shared by every client
    using it (Bybit and Binance fronts alike).
    """

    seed: int = 20240601
    accounts: dict[str, str] = field(default_factory=dict)
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    slippage_bps: Decimal = Decimal(0)
    latency_ms: float = 0.0
    taker_fee: Decimal = Decimal("0.00055")
    maker_fee: Decimal = Decimal("0.0002")
    starting_balance: Decimal = Decimal(2000)
    default_leverage: Decimal = Decimal(10)
    # Market generator steps per second driven by the running loop; 0 = no live
    # generation (tests drive prices themselves).
    tick_hz: float = 10.0
    # 1-minute klines synthesised at start so strategies have history at once (two
    # full days, so "the previous UTC day" is always complete).
    backfill_minutes: int = 2 * 24 * 60 + 120
    # Bybit's default recv window is 5 s; requests older than this are refused.
    check_recv_window: bool = True
    # Mean number of level "trap" bursts per symbol per minute in live generation.
    bursts_per_minute: float = 0.5
    # Bybit WS subscribe requests take effect (and are answered) after this delay, as
    # over a WAN: pybit records a subscription and its callback only *after* sending
    # it, so an instant loopback reply or first message races it and kills the client.
    ws_subscribe_delay_ms: float = 30.0
    # Bybit pushes linear `tickers.SYM` at most every 100 ms per symbol (its docs:
    # "Derivatives & Options: 100ms"), carrying the latest values, however many trades
    # printed meanwhile. 0 = a ticker delta after every trade batch (not venue-like).
    ws_ticker_interval_ms: float = 100.0
    # Wire timestamps kept for latency benchmarks (each of trades sent / orders
    # received); bounded so an hour of paper trading stays small. 0 = keep none.
    recorder_size: int = 50_000
    # Where the accounts are kept between runs (`titan.sim.persist`); None = in memory
    # only, every start a fresh venue. The paper profile points it into the data folder.
    state_path: str | None = None

    def __post_init__(self) -> None:
        unknown = [s for s in self.symbols if s not in INSTRUMENTS]
        if unknown:
            raise ValueError(f"unknown symbols: {unknown}")
        self.slippage_bps = Decimal(str(self.slippage_bps))
        self.taker_fee = Decimal(str(self.taker_fee))
        self.maker_fee = Decimal(str(self.maker_fee))
        self.starting_balance = Decimal(str(self.starting_balance))
        self.default_leverage = Decimal(str(self.default_leverage))
