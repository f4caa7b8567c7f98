-- AI Quant (SPEC §17): its runs (insights and the morning briefing) and its proposals.
-- A proposal never changes the config by itself: approving it makes a config version
-- through the same path as every change (applied_version names it).
CREATE TABLE quant_runs (
    id              TEXT PRIMARY KEY,              -- 20261207T003000Z-1a2b3c
    created_at      TEXT NOT NULL,
    trigger         TEXT NOT NULL,                 -- nightly | api | cli | nats | console
    actor           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    finished_at     TEXT,
    config_version  TEXT NOT NULL,                 -- the active version it read
    briefing        TEXT NOT NULL DEFAULT '{}',    -- JSON: insights, yesterday, notes
    result          TEXT NOT NULL DEFAULT '{}',    -- JSON: the search's outcome
    error           TEXT
);
CREATE INDEX quant_runs_created ON quant_runs(created_at);

CREATE TABLE quant_proposals (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id              TEXT NOT NULL REFERENCES quant_runs(id),
    created_at          TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'approved', 'rejected')),
    config_version      TEXT NOT NULL,             -- the active version it was made against
    strategy            TEXT NOT NULL,
    changes             TEXT NOT NULL,             -- JSON: {"risk.maxLeverage": {"from", "to"}}
    active_figures      TEXT NOT NULL,             -- JSON: hold-out figures + equity curve
    candidate_figures   TEXT NOT NULL,             -- JSON: hold-out figures + equity curve
    evidence            TEXT NOT NULL DEFAULT '{}',-- JSON: windows, trials, gate, insights
    reject_reason       TEXT,
    decided_by          TEXT,
    decided_at          TEXT,
    applied_version     TEXT                       -- the config version its approval made
);
CREATE INDEX quant_proposals_status ON quant_proposals(status, created_at);
