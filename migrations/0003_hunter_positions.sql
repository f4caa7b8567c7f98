-- Hunter's managed positions (STRATEGIES.md, Hunter "Management"): one row per plan, the
-- plan and what has been done as JSON (break-even, the 2R partial: taken once, so it
-- must survive a restart), closed = 1 once the position is gone (its pnl in data).
CREATE TABLE hunter_positions (
    plan_id    TEXT PRIMARY KEY,
    symbol     TEXT NOT NULL,
    closed     INTEGER NOT NULL DEFAULT 0,
    data       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX hunter_positions_open ON hunter_positions(closed, updated_at);
