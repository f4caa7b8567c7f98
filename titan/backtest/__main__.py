"""`python -m titan.backtest ARGS…` = `titan backtest ARGS…`, at a lower CPU priority: the
API's runs start this way, in their own process, so a backtest never slows the trading
loop's process (it only competes for the CPU, and yields to it)."""

from __future__ import annotations

import os
import sys

from titan.cli import main

if __name__ == "__main__":
    try:
        os.nice(10)
    except OSError:
        pass  # not allowed here: run at the normal priority
    sys.exit(main(["backtest", *sys.argv[1:]]))
