"""Shadow state: Titan's own ledger of intents, orders, fills and positions, and the reconciler."""
