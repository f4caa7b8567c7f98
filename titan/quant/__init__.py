"""AI Quant (SPEC §17, STRATEGIES.md "AI Quant"): insights from the journal, a parameter
search scored by backtests, a hold-out gate, and proposals the operator approves or
rejects. Nothing it does takes effect unapproved."""
