"""Market data (SPEC §15): a columnar store of trades, tickers, klines, funding and gaps
(Parquet files by venue, symbol, kind and UTC day), the recorder that fills it while
Titan runs, and the importer of the public dumps users download.

The store is not the trading database: it is read by backtests and written off the
event loop. See docs/marketdata.md. The
modules are imported by name (`titan.marketdata.store`): importing this package loads
no pyarrow.
"""
