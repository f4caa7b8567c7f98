-- Each config version also holds the strategies' settings (SPEC §14): per strategy, on
-- or off, its phases and its parameters, as JSON. Versions made before this migration
-- hold '{}': every strategy at its registry defaults.
ALTER TABLE config_versions ADD COLUMN strategies TEXT NOT NULL DEFAULT '{}';
