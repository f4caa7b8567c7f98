"""The `titan` command: run | migrate | sim | status | config | halt | reconcile | backup | restore | notify | data | backtest | quant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from titan import __version__

Command = Callable[[argparse.Namespace], int]


def _cmd_run(args: argparse.Namespace) -> int:
    from titan.process import run_titan

    return run_titan()


def _cmd_migrate(args: argparse.Namespace) -> int:
    from titan.process import migrate_only

    return migrate_only()


def _cmd_sim(args: argparse.Namespace) -> int:
    import importlib

    # Imported by name: the simulator is only loaded when `titan sim` runs.
    standalone = importlib.import_module("titan.sim.standalone")
    code: int = standalone.run_standalone(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        api_secret=args.api_secret,
        seed=args.seed,
    )
    return code


def _cmd_status(args: argparse.Namespace) -> int:
    from titan.cli_client import cmd_status

    return cmd_status(as_json=args.json)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError("must be 1-500")
    return value


def _cmd_config(args: argparse.Namespace) -> int:
    from titan import cli_client

    if args.config_command == "show":
        return cli_client.cmd_config_show(as_json=args.json)
    if args.config_command == "versions":
        return cli_client.cmd_config_versions(limit=args.limit, as_json=args.json)
    return cli_client.cmd_config_rollback(args.tag, reason=args.reason)


def _cmd_strategy(args: argparse.Namespace) -> int:
    from titan import cli_client

    if args.strategy_command == "list":
        return cli_client.cmd_strategy_list(as_json=args.json)
    return cli_client.cmd_strategy_switch(args.name, args.strategy_command == "enable",
                                          args.reason)


def _cmd_halt(args: argparse.Namespace) -> int:
    from titan.cli_client import cmd_halt

    return cmd_halt(args.state, args.reason)


def _cmd_reconcile(args: argparse.Namespace) -> int:
    from titan.cli_client import cmd_reconcile

    return cmd_reconcile(as_json=args.json)


# --- ops: backup / restore ---
def _cmd_backup(args: argparse.Namespace) -> int:
    from titan.ops.commands import backup_now

    return backup_now()


def _cmd_restore(args: argparse.Namespace) -> int:
    from titan.ops.commands import restore

    return restore(args.file)


def _cmd_notify(args: argparse.Namespace) -> int:
    from titan.notify.cli import notify_test

    return notify_test()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="titan", description="Titan: operator-controlled crypto trading system."
    )
    parser.add_argument("--version", action="version", version=f"titan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run Titan (paper profile with the built-in simulator by default)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("migrate", help="apply pending database migrations and exit")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("sim", help="run the venue simulator standalone")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--api-key", action="append", required=True, dest="api_key",
                   help="an account's API key (repeat with --api-secret for more accounts)")
    p.add_argument("--api-secret", action="append", required=True, dest="api_secret")
    p.add_argument("--seed", type=int, default=20240601)
    p.set_defaults(func=_cmd_sim)

    # api branch: commands that ask the running Titan over its API (titan/cli_client.py)
    p = sub.add_parser("status", help="print the running Titan's status (GET /api/status)")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("config", help="show the risk config, list versions, roll back")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    c = csub.add_parser("show", help="the active version and its values with allowed ranges")
    c.add_argument("--json", action="store_true", help="print the raw JSON")
    c = csub.add_parser("versions", help="config versions, newest first (* = active)")
    c.add_argument("--limit", type=_limit, default=50, metavar="N", help="1-500 (default 50)")
    c.add_argument("--json", action="store_true", help="print the raw JSON")
    c = csub.add_parser("rollback", help="make a copy of version TAG the active one")
    c.add_argument("tag", metavar="TAG", help="a version tag, e.g. 2024-12-13T10:30:00Z")
    c.add_argument("--reason", default="", help="why (recorded with the new version)")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("strategy", help="list the strategies, enable or disable one")
    ssub = p.add_subparsers(dest="strategy_command", metavar="ACTION", required=True)
    c = ssub.add_parser("list", help="every strategy: enabled, running or why paused, phases")
    c.add_argument("--json", action="store_true", help="print the raw JSON")
    for action, what in (("enable", "let NAME trade again (a new config version)"),
                         ("disable", "stop NAME and cancel its working entries; positions stay")):
        c = ssub.add_parser(action, help=what)
        c.add_argument("name", metavar="NAME", help="a strategy name, e.g. scavenger")
        c.add_argument("--reason", required=True, help="why (required, audited)")
    p.set_defaults(func=_cmd_strategy)

    p = sub.add_parser("halt", help="set the running Titan's halt state (POST /api/system/halt)")
    p.add_argument("state", choices=["OPEN", "SOFT_HALT", "HARD_HALT"])
    p.add_argument("--reason", required=True, help="why (required, audited)")
    p.set_defaults(func=_cmd_halt)

    p = sub.add_parser("reconcile", help="reconcile the running Titan with the venue now")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.set_defaults(func=_cmd_reconcile)

    # --- ops: backup / restore ---
    p = sub.add_parser("backup", help="back up the database now (works while Titan runs)")
    p.set_defaults(func=_cmd_backup)
    p = sub.add_parser("restore", help="restore the database from a backup (Titan stopped)")
    p.add_argument("file", help="a backup file, e.g. /data/backups/latest.db")
    p.set_defaults(func=_cmd_restore)

    p = sub.add_parser("notify", help="push notifications (TITAN_NOTIFY_URLS)")
    nsub = p.add_subparsers(dest="notify_command", metavar="ACTION", required=True)
    nsub.add_parser("test", help="send a test message to every URL; exit 1 if any failed")
    p.set_defaults(func=_cmd_notify)

    from titan.backtest.cli import add_parser as add_backtest_parser
    from titan.marketdata.cli import add_parser as add_data_parser  # titan/marketdata/cli.py
    from titan.quant.cli import add_parser as add_quant_parser  # titan/quant/cli.py

    add_data_parser(sub)
    add_backtest_parser(sub)  # titan backtest (titan/backtest/cli.py)
    add_quant_parser(sub)  # titan quant run|briefing|approve|reject

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return func(args)
