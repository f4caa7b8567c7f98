"""What a halt state does outside the risk package (`risk.HaltActions`): cancel orders
and flatten through the execution engine, pause the strategies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from titan.execution.engine import ExecutionEngine
from titan.strategies.pauses import StrategyPauses


class HaltActions:
    """Bound late: the execution engine exists only once the venue is built."""

    def __init__(self, execution: Callable[[], ExecutionEngine], pauses: StrategyPauses) -> None:
        self._execution = execution
        self._pauses = pauses

    async def cancel_entry_orders(self) -> Any:
        return await self._execution().cancel_entry_orders()

    async def cancel_all_orders(self) -> Any:
        return await self._execution().cancel_all_orders()

    async def flatten_all(self) -> Any:
        return await self._execution().flatten_all()

    async def pause_strategies(self, reason: str) -> Any:
        self._pauses.pause("halt", reason)
        return {"paused": True, "reason": reason}
