-- The spot leg of Sentinel's pairs (SPEC §16): kept apart from the perpetual's tables,
-- because a spot order or fill on BTCUSDT is not one of the BTCUSDT perpetual (the perp
-- reconciler must never see a spot order as a perp order gone missing).
--
-- spot_orders: the intent and its order in one row, written (PENDING) before the order
-- leaves; the venue's word updates it.
CREATE TABLE spot_orders (
    client_order_id  TEXT PRIMARY KEY,
    intent_id        TEXT NOT NULL UNIQUE,
    symbol           TEXT NOT NULL,
    coin             TEXT NOT NULL,
    side             TEXT NOT NULL CHECK (side IN ('Buy', 'Sell')),
    order_type       TEXT NOT NULL CHECK (order_type IN ('Market', 'Limit')),
    qty              TEXT NOT NULL,
    price            TEXT,
    strategy         TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,
    filled_qty       TEXT NOT NULL DEFAULT '0',
    venue_order_id   TEXT NOT NULL DEFAULT '',
    reject_reason    TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX spot_orders_status ON spot_orders(status);

-- Spot executions, recorded once by the venue's execution id; titan = 0 for a trade
-- made outside Titan (by hand on the venue): recorded, never counted as Titan's coins.
CREATE TABLE spot_fills (
    exec_id          TEXT PRIMARY KEY,
    client_order_id  TEXT NOT NULL,
    venue_order_id   TEXT NOT NULL,
    symbol           TEXT NOT NULL,
    side             TEXT NOT NULL,
    qty              TEXT NOT NULL,
    price            TEXT NOT NULL,
    fee              TEXT NOT NULL,
    fee_coin         TEXT NOT NULL,
    titan            INTEGER NOT NULL,
    ts               TEXT NOT NULL,
    recorded_at      TEXT NOT NULL
);
CREATE INDEX spot_fills_ts ON spot_fills(ts);

-- The coins Titan bought and still holds (net of the fees charged in the coin), and
-- the USDT they cost: what flatten sells, what reconciliation compares with the wallet.
CREATE TABLE spot_holdings (
    coin        TEXT PRIMARY KEY,
    qty         TEXT NOT NULL,
    cost        TEXT NOT NULL,
    strategy    TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
