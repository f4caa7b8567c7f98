"""Schemathesis against a real `titan run` on loopback, driven by /api/openapi.json.

Checks: no 5xx, no status the document does not list, content types and response
bodies as documented. Bounded (examples per operation, a fixed seed) to stay well under
a minute.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request

from tests.api.conftest import RunningTitan
from tests.helpers import PASSWORD, USER, auth_header

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
])


def test_schemathesis_finds_nothing(titan_proc: RunningTitan) -> None:
    t = titan_proc
    req = urllib.request.Request(f"{t.base}/api/openapi.json", headers=auth_header())
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{t.base}/api/openapi.json",
        "--auth", f"{USER}:{PASSWORD}",
        "--checks", CHECKS,
        "--max-examples", "5",
        "--seed", "20240601",
        "--suppress-health-check", "all",
        "--request-timeout", "10",
        "--max-time", "40",
        "--warnings", "off",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                         env={**t.env, "NO_COLOR": "1"})
    tail = "\n".join((res.stdout + res.stderr).splitlines()[-80:])
    assert res.returncode == 0, tail
    assert "passed" in tail
