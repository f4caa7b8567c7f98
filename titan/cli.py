"""The `titan` command: run | migrate | sim | backup | restore | halt | reconcile | status."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from titan import __version__

Command = Callable[[argparse.Namespace], int]


def _cmd_run(args: argparse.Namespace) -> int:
    from titan.runner import run_titan

    return run_titan()


def _cmd_migrate(args: argparse.Namespace) -> int:
    from titan.runner import migrate_only

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


# --- ops: backup / restore ---
def _cmd_backup(args: argparse.Namespace) -> int:
    from titan.ops.commands import backup_now

    return backup_now()


def _cmd_restore(args: argparse.Namespace) -> int:
    from titan.ops.commands import restore

    return restore(args.file)


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

    # --- ops: backup / restore ---
    p = sub.add_parser("backup", help="back up the database now (works while Titan runs)")
    p.set_defaults(func=_cmd_backup)
    p = sub.add_parser("restore", help="restore the database from a backup (Titan stopped)")
    p.add_argument("file", help="a backup file, e.g. /data/backups/latest.db")
    p.set_defaults(func=_cmd_restore)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return func(args)
