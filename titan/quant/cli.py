"""`titan quant run|briefing|approve ID|reject ID --reason …`: AI Quant from the shell,
through the running Titan's API (like `titan config`), so every decision takes the same
audited path as the console's.

Exit codes: 0 done; 2 refused input (unknown or already decided proposal, a stale one,
a run already running, a bad value) with one line on stderr; 1 Titan unreachable or
another error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

REFUSED = ("404 ", "409 ", "422 ")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("quant", help="AI Quant: run it, read the briefing, decide proposals")
    q = p.add_subparsers(dest="quant_command", metavar="ACTION", required=True)
    c = q.add_parser("run", help="start a run now (in its own process)")
    c.add_argument("--strategy", default=None, help="the strategy replayed (default scavenger)")
    c.add_argument("--trials", type=int, default=None, help="at most this many trials")
    c.add_argument("--timeout-s", type=float, default=None, dest="timeout_s",
                   help="stop searching after this many seconds")
    c.add_argument("--params", default=None,
                   help="comma-separated parameters to tune, e.g. risk.maxLeverage")
    c.add_argument("--wait", action="store_true", help="wait for the run to end")
    c = q.add_parser("briefing", help="the morning briefing: insights, proposals, yesterday")
    c.add_argument("--json", action="store_true", help="print the raw JSON")
    c = q.add_parser("approve", help="approve proposal ID: one new config version")
    c.add_argument("id", type=int, metavar="ID")
    c.add_argument("--reason", default="", help="why (recorded with the version)")
    c = q.add_parser("reject", help="reject proposal ID")
    c.add_argument("id", type=int, metavar="ID")
    c.add_argument("--reason", required=True, help="why (required, audited)")
    p.set_defaults(func=cmd_quant)


def show_briefing(b: dict[str, Any], out: TextIO) -> None:
    y = b.get("yesterday", {})
    rate = y.get("win_rate")
    out.write(f"yesterday ({y.get('day')}): {y.get('trades', 0)} trades, net "
              f"{y.get('net_pnl')} USDT, win rate "
              f"{'-' if rate is None else f'{rate:.0%}'}\n")
    for note in b.get("notes", []):
        out.write(f"note: {note}\n")
    ins = b.get("insights", {})
    for i in ins.get("insights", []):
        out.write(f"insight [{i['kind']}]: {i['message']}\n")
    if ins.get("enough"):
        out.write(f"confidence {ins.get('confidence')}\n")
    for p in b.get("proposals", []):
        changes = ", ".join(f"{n} {c.get('from')} → {c.get('to')}"
                            for n, c in p.get("changes", {}).items())
        a, c2 = p.get("active_figures", {}), p.get("candidate_figures", {})
        flag = " (stale)" if p.get("stale") else ""
        out.write(f"proposal #{p['id']} {p['status']}{flag}: {changes}; hold-out net "
                  f"{a.get('net_pnl')} → {c2.get('net_pnl')}, max DD {a.get('max_drawdown')}"
                  f" → {c2.get('max_drawdown')}\n")


def cmd_quant(args: argparse.Namespace) -> int:
    from titan.cli_client import Client, CliError, _run

    def act(client: Client) -> int:
        cmd = args.quant_command
        try:
            if cmd == "run":
                body: dict[str, Any] = {k: v for k, v in {
                    "strategy": args.strategy, "trials": args.trials,
                    "timeoutS": args.timeout_s}.items() if v is not None}
                if args.params:
                    body["params"] = [s.strip() for s in args.params.split(",") if s.strip()]
                run = client.call("POST", "/api/quant/run", body)
                while args.wait and run.get("status") == "running":
                    time.sleep(2)
                    run = client.call("GET", f"/api/quant/runs/{run['id']}")
                print(f"AI Quant run {run['id']}: {run['status']}"
                      + (f" — {run['note']}" if run.get("note") else ""))
            elif cmd == "briefing":
                b = client.call("GET", "/api/quant/briefing")
                if args.json:
                    print(json.dumps(b, indent=2))
                else:
                    show_briefing(b, sys.stdout)
            elif cmd == "approve":
                p = client.call("POST", f"/api/quant/proposals/{args.id}/approve",
                                {"reason": args.reason})
                print(f"proposal #{args.id} approved: config version {p.get('version_tag')}")
            else:
                if not args.reason.strip():
                    raise CliError("reject needs a reason (--reason)", 2)
                client.call("POST", f"/api/quant/proposals/{args.id}/reject",
                            {"reason": args.reason})
                print(f"proposal #{args.id} rejected")
        except CliError as exc:
            if exc.message.startswith(REFUSED):
                raise CliError(exc.message, 2) from None
            raise
        return 0

    return _run(act)
