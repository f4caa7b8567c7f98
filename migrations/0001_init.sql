-- Titan's first schema. Money, prices and quantities are stored as TEXT holding a
-- Decimal string: SQLite REAL would round them. Timestamps are ISO-8601 UTC text.

-- Persisted control state: Master Arm, halt state, circuit breaker, day tracker, phase.
-- One JSON document per key, written whole.
CREATE TABLE system_state (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,          -- JSON
    updated_at  TEXT NOT NULL
);

-- Immutable risk configuration versions; the active one is the newest row.
CREATE TABLE config_versions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    version_tag       TEXT NOT NULL UNIQUE,   -- e.g. 2024-12-13T10:30:00Z
    config            TEXT NOT NULL,          -- JSON, camelCase fields
    created_at        TEXT NOT NULL,
    actor             TEXT NOT NULL,
    source            TEXT NOT NULL,          -- api | console | nats | cli | startup
    reason            TEXT NOT NULL DEFAULT '',
    rolled_back_from  TEXT                    -- version_tag this one restored
);

-- Every order intent is committed here before its order leaves (write before acting).
CREATE TABLE intents (
    intent_id        TEXT PRIMARY KEY,
    client_order_id  TEXT NOT NULL UNIQUE,
    symbol           TEXT NOT NULL,
    side             TEXT NOT NULL CHECK (side IN ('Buy', 'Sell')),
    qty              TEXT NOT NULL,
    order_type       TEXT NOT NULL CHECK (order_type IN ('Market', 'Limit')),
    price            TEXT,
    reduce_only      INTEGER NOT NULL DEFAULT 0,
    stop_loss        TEXT,
    take_profit      TEXT,
    leverage         TEXT NOT NULL DEFAULT '1',
    strategy         TEXT NOT NULL,
    reason           TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL
);

-- Orders as the shadow ledger knows them, one per client order id.
CREATE TABLE orders (
    client_order_id  TEXT PRIMARY KEY,
    intent_id        TEXT REFERENCES intents(intent_id),
    venue_order_id   TEXT,
    symbol           TEXT NOT NULL,
    side             TEXT NOT NULL,
    order_type       TEXT NOT NULL,
    qty              TEXT NOT NULL,
    filled_qty       TEXT NOT NULL DEFAULT '0',
    price            TEXT,
    avg_price        TEXT,
    status           TEXT NOT NULL,
    reduce_only      INTEGER NOT NULL DEFAULT 0,
    reject_reason    TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX orders_status ON orders(status);
CREATE INDEX orders_symbol ON orders(symbol);

-- Executions, recorded once: the venue's execution id is the key.
CREATE TABLE fills (
    exec_id          TEXT PRIMARY KEY,
    client_order_id  TEXT NOT NULL,
    venue_order_id   TEXT NOT NULL,
    symbol           TEXT NOT NULL,
    side             TEXT NOT NULL,
    qty              TEXT NOT NULL,
    price            TEXT NOT NULL,
    fee              TEXT NOT NULL,
    ts               TEXT NOT NULL,
    recorded_at      TEXT NOT NULL
);
CREATE INDEX fills_symbol_ts ON fills(symbol, ts);

-- Shadow positions (one-way: one row per symbol while open).
CREATE TABLE positions (
    symbol          TEXT PRIMARY KEY,
    side            TEXT NOT NULL,
    size            TEXT NOT NULL,
    entry_price     TEXT NOT NULL,
    unrealised_pnl  TEXT NOT NULL DEFAULT '0',
    leverage        TEXT NOT NULL DEFAULT '1',
    stop_loss       TEXT,
    take_profit     TEXT,
    max_size        TEXT NOT NULL DEFAULT '0',   -- largest size of this round trip
    realised_pnl    TEXT NOT NULL DEFAULT '0',   -- of the open round trip so far
    fees            TEXT NOT NULL DEFAULT '0',
    orphaned        INTEGER NOT NULL DEFAULT 0,  -- opened by something other than Titan
    strategy        TEXT NOT NULL DEFAULT '',
    opened_at       TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- The trade journal: closed round trips with net PnL after fees.
CREATE TABLE trades (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol        TEXT NOT NULL,
    side          TEXT NOT NULL,
    qty           TEXT NOT NULL,
    entry_price   TEXT NOT NULL,
    exit_price    TEXT NOT NULL,
    gross_pnl     TEXT NOT NULL,
    fees          TEXT NOT NULL,
    net_pnl       TEXT NOT NULL,
    strategy      TEXT NOT NULL DEFAULT '',
    close_reason  TEXT NOT NULL DEFAULT '',
    opened_at     TEXT NOT NULL,
    closed_at     TEXT NOT NULL
);
CREATE INDEX trades_closed_at ON trades(closed_at);

CREATE TABLE equity_snapshots (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    ts              TEXT NOT NULL,
    equity          TEXT NOT NULL,
    wallet_balance  TEXT NOT NULL,
    unrealised_pnl  TEXT NOT NULL
);
CREATE INDEX equity_snapshots_ts ON equity_snapshots(ts);

-- Events and alerts (an alert is an event with a severity).
CREATE TABLE events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts        TEXT NOT NULL,
    name      TEXT NOT NULL,
    severity  TEXT,
    message   TEXT NOT NULL,
    data      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_ts ON events(ts);
CREATE INDEX events_severity ON events(severity, ts);

-- Operator actions: who, from where, what, and what came of it.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    source      TEXT NOT NULL,     -- api | console | cli | nats
    source_ip   TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    params      TEXT NOT NULL DEFAULT '{}',
    result      TEXT NOT NULL DEFAULT '{}',
    success     INTEGER NOT NULL
);
CREATE INDEX audit_log_ts ON audit_log(ts);

-- Scavenger traps: armed levels and when they sprang.
CREATE TABLE traps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    level       TEXT NOT NULL,
    direction   TEXT NOT NULL,
    score       REAL NOT NULL,
    confidence  INTEGER NOT NULL,
    armed_at    TEXT NOT NULL,
    sprung_at   TEXT,
    data        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX traps_sprung ON traps(sprung_at);

-- Reconciliation runs and their reports.
CREATE TABLE reconciliations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          TEXT NOT NULL,
    trigger     TEXT NOT NULL,      -- startup | schedule | reconnect | operator
    ok          INTEGER NOT NULL,   -- the venue could be read
    mismatches  INTEGER NOT NULL,
    report      TEXT NOT NULL
);
