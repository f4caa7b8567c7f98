"""The operator API: one module per area, plus auth and the error shape (SPEC §9)."""
