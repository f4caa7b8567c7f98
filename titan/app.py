"""Builds the aiohttp application: middlewares, routes, and Titan's lifetime as cleanup_ctx."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from titan.api import (
    backtests,
    health,
    journal,
    metrics,
    openapi,
    quant,
    strategies,
    trading,
    universe,
)
from titan.api import config as config_api
from titan.api import regime as regime_api
from titan.api.auth import Lockout, make_auth_middleware
from titan.api.auth_trace import AuthTrace
from titan.api.errors import error_middleware
from titan.api.keys import TITAN
from titan.backtest.runs import BacktestRuns
from titan.console import setup_console
from titan.core import Titan
from titan.quant.wiring import attach_quant

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(titan: Titan) -> web.Application:
    lockout = Lockout(titan.clock)
    trace = AuthTrace(titan.audit, titan.metrics, titan.clock, titan.spawn)
    app = web.Application(
        middlewares=[
            error_middleware,
            make_auth_middleware(titan.secrets.console_user, titan.secrets.console_password,
                                 lockout, titan.settings.proxy_networks, trace),
        ],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[TITAN] = titan
    # Backtest runs: child processes, their folders under the data folder (SPEC §15).
    runs = BacktestRuns(titan.settings.data_dir / "backtests", titan.settings.data_dir, titan.clock)
    app[backtests.RUNS] = runs
    # AI Quant (SPEC §17): its runs are child processes too; nightly job, NATS handler.
    quant_service = attach_quant(titan)
    app[quant.QUANT] = quant_service
    app.router.add_routes(health.routes)
    app.router.add_routes(trading.routes)
    app.router.add_routes(config_api.routes)
    app.router.add_routes(journal.routes)
    app.router.add_routes(openapi.routes)
    app.router.add_routes(strategies.routes)
    app.router.add_routes(universe.routes)
    app.router.add_routes(regime_api.routes)  # /api/regime
    app.router.add_routes(backtests.routes)
    app.router.add_routes(quant.routes)
    app.router.add_routes(metrics.routes)  # /metrics
    setup_console(app)  # the page at /, /static/, /vendor/ and the /ws socket

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        await titan.start()
        yield
        await titan.stop()

    # notify: started before Titan, stopped after it (it sends STARTED and STOPPING)
    app.cleanup_ctx.append(titan.notifier.lifetime)
    app.cleanup_ctx.append(lifetime)
    app.on_cleanup.append(lambda _app: runs.close())
    app.on_cleanup.append(lambda _app: quant_service.close())
    return app
