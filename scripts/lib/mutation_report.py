"""Score a finished mutmut run per module and write it to a JSON file (scripts/mutation).

Reads the verdicts with `mutmut results --all true`, the diff of each survivor with
`mutmut show`, and the mutants declared equivalent from docs/testing.md (table rows
whose first cell is a mutant name in backticks). Score = caught / (all − equivalent),
where caught = killed or timed out (a mutant that hangs the tests is detected too).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

# Module label -> mutant-name prefix (mutmut names a mutant module.function__mutmut_N).
MODULES = {
    "gate": "titan.risk.gate.",
    "breaker": "titan.risk.breaker.",
    "phases": "titan.risk.phases.",
    "sizing": "titan.risk.sizing.",
    "regime": "titan.risk.regime.",
    "positions": "titan.state.positions.",
}
TARGET = 0.95
_RESULT = re.compile(r"^\s*(\S+__mutmut_\d+): (.+)$")
_EQUIVALENT = re.compile(r"^\|\s*`([^`]+__mutmut_\d+)`\s*\|\s*(.+?)\s*\|\s*$")


def verdicts(mutmut: str) -> dict[str, str]:
    out = subprocess.run([mutmut, "results", "--all", "true"], check=True,
                         capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        m = _RESULT.match(line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def equivalents(doc: Path) -> dict[str, str]:
    listed = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        m = _EQUIVALENT.match(line)
        if m:
            listed[m.group(1)] = m.group(2)
    return listed


def diff(mutmut: str, name: str) -> str:
    out = subprocess.run([mutmut, "show", name], check=False, capture_output=True,
                         text=True).stdout
    return "\n".join(line for line in out.splitlines()
                     if line[:1] in "+-" and not line.startswith(("+++", "---")))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mutmut", required=True)
    ap.add_argument("--equivalents", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--modules", nargs="*", choices=sorted(MODULES),
                    help="score only these (a run restricted to them)")
    args = ap.parse_args()
    chosen = {k: v for k, v in MODULES.items() if not args.modules or k in args.modules}

    results = verdicts(args.mutmut)
    equivalent = equivalents(args.equivalents)
    stale = sorted(k for k in set(equivalent) - set(results)
                   if not args.modules or any(k.startswith(MODULES[m]) for m in args.modules))
    report: dict[str, object] = {
        "tool": "mutmut " + subprocess.run([args.mutmut, "--version"], capture_output=True,
                                           text=True).stdout.split()[-1],
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "finishedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": TARGET,
        "modules": {},
        "equivalentNotFound": stale,
    }
    failed = False
    modules: dict[str, object] = {}
    for label, prefix in chosen.items():
        mine = {k: v for k, v in results.items() if k.startswith(prefix)}
        counts: dict[str, int] = {}
        for status in mine.values():
            counts[status] = counts.get(status, 0) + 1
        eq = [k for k in mine if k in equivalent]
        caught = sum(1 for k, v in mine.items() if v in ("killed", "timeout") and k not in eq)
        considered = len(mine) - len(eq)
        score = caught / considered if considered else 1.0
        survivors = [
            {"mutant": k, "status": v, "diff": diff(args.mutmut, k)}
            for k, v in sorted(mine.items()) if v not in ("killed", "timeout") and k not in eq
        ]
        failed = failed or score < TARGET
        modules[label] = {"mutants": len(mine), "statuses": counts, "equivalent": len(eq),
                          "caught": caught, "score": round(score, 4),
                          "survivors": survivors}
        print(f"{label:10s} {len(mine):4d} mutants, {len(eq):3d} equivalent, {caught:4d} caught "
              f"of {considered:4d}: {score:.1%}" + ("" if score >= TARGET else "  < 95 %"))
        for s in survivors:
            print(f"    survived: {s['mutant']}")
    report["modules"] = modules
    if stale:
        print(f"note: {len(stale)} mutants listed as equivalent no longer exist: {stale}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"==> wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
