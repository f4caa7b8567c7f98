"""`titan status` and `titan config …`: talk to the running Titan over its own API.

The address is `TITAN_HOST:TITAN_PORT` (a wildcard listen address means this machine);
the credentials are the console's, from `TITAN_CONSOLE_USER` / `TITAN_CONSOLE_PASSWORD`
or, when no password is set, the generated one in `$TITAN_DATA_DIR/secrets.json`.
Every failure is one line on stderr and a non-zero exit: 1 when Titan answered with an
error or could not be reached, 2 for a bad setting or missing credentials.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TextIO

from titan.settings import Settings, SettingsError, load_settings

EXIT_API = 1
EXIT_SETUP = 2
TIMEOUT_S = 10.0


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_API) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def base_url(settings: Settings) -> str:
    host = settings.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def credentials(settings: Settings) -> tuple[str, str]:
    if settings.console_password is not None and settings.console_password.get_secret_value():
        return settings.console_user, settings.console_password.get_secret_value()
    path = settings.data_dir / "secrets.json"
    try:
        data = json.loads(path.read_text())
        password = str(data.get("console_password", "")) if isinstance(data, dict) else ""
    except FileNotFoundError:
        password = ""
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}", EXIT_SETUP) from None
    if not password:
        raise CliError(f"no console password: set TITAN_CONSOLE_PASSWORD or run Titan once "
                       f"so it writes {path}", EXIT_SETUP)
    return settings.console_user, password


class Client:
    def __init__(self, base: str, user: str, password: str, timeout: float = TIMEOUT_S) -> None:
        self.base = base.rstrip("/")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._auth = f"Basic {token}"
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> Client:
        user, password = credentials(settings)
        return cls(base_url(settings), user, password)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        req.add_header("Authorization", self._auth)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return _json(resp.read())
        except urllib.error.HTTPError as exc:
            raise _http_error(exc, self.base, path) from None
        except urllib.error.URLError as exc:
            reason = exc.reason.strerror if isinstance(exc.reason, OSError) else exc.reason
            raise CliError(f"Titan is not running at {self.base} ({reason or exc})") from None
        except TimeoutError:
            raise CliError(f"Titan at {self.base} did not answer within {self.timeout:g}s") from None
        except ConnectionError as exc:
            raise CliError(f"Titan is not running at {self.base} ({exc.strerror or exc})") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {"raw": raw.decode("utf-8", "replace")}


def _http_error(exc: urllib.error.HTTPError, base: str, path: str) -> CliError:
    body = _json(exc.read() or b"")
    err = body.get("error", {}) if isinstance(body, dict) else {}
    message = err.get("message") if isinstance(err, dict) else None
    if exc.code == 401:
        return CliError(f"authentication failed at {base}: check TITAN_CONSOLE_USER and "
                        "TITAN_CONSOLE_PASSWORD (or data/secrets.json)")
    if exc.code == 429:
        return CliError(f"locked out by {base}: {message or 'too many failed logins'}")
    if exc.code == 404 and isinstance(err, dict) and err.get("code") == "NOT_FOUND":
        return CliError(f"this Titan at {base} has no {path} endpoint")
    code = err.get("code", f"HTTP_{exc.code}") if isinstance(err, dict) else f"HTTP_{exc.code}"
    details = err.get("details") if isinstance(err, dict) else None
    extra = ""
    if isinstance(details, list):
        fields = [f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict)]
        extra = f" ({'; '.join(fields)})" if fields else ""
    return CliError(f"{exc.code} {code}: {message or exc.reason}{extra}")


# -- output ------------------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """`a.b.c: value` lines for a shell (lists of scalars joined, others as JSON)."""
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        if not value and prefix:
            out.append((prefix, "{}"))
        for k, v in value.items():
            out.extend(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            out.append((prefix, ",".join(_scalar(v) for v in value) if value else "[]"))
        else:
            for i, v in enumerate(value):
                out.extend(flatten(v, f"{prefix}[{i}]"))
    else:
        out.append((prefix, _scalar(value)))
    return out


def _scalar(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def print_facts(value: Any, out: TextIO) -> None:
    for key, text in flatten(value):
        print(f"{key}: {text}", file=out)


def show_config(body: dict[str, Any], out: TextIO) -> None:
    print(f"version: {body.get('version_tag')}  ({body.get('source')} by {body.get('actor')}, "
          f"{body.get('reason') or 'no reason'})", file=out)
    ranges = body.get("ranges", {})
    for key, value in body.get("config", {}).items():
        r = ranges.get(key, {})
        lo = r.get("minimum", r.get("exclusiveMinimum"))
        hi = r.get("maximum")
        span = f"  [{_scalar(lo)} .. {_scalar(hi)}]" if lo is not None or hi is not None else ""
        shown = ",".join(value) if isinstance(value, list) else _scalar(value)
        print(f"{key}: {shown}{span}", file=out)


def show_versions(body: dict[str, Any], out: TextIO) -> None:
    active = body.get("active_version_tag")
    for v in body.get("items", []):
        mark = "*" if v.get("version_tag") == active else " "
        rb = f" rolled back from {v['rolled_back_from']}" if v.get("rolled_back_from") else ""
        print(f"{mark} {v.get('version_tag'):<26} {v.get('source'):<8} {v.get('actor'):<14} "
              f"{v.get('reason', '')}{rb}", file=out)


# -- commands ----------------------------------------------------------------------


def _run(action: Callable[[Client], int], settings: Settings | None = None) -> int:
    try:
        s = settings or load_settings()
    except SettingsError as exc:
        print(f"titan: {exc}", file=sys.stderr)
        return EXIT_SETUP
    try:
        return action(Client.from_settings(s))
    except CliError as exc:
        print(f"titan: {exc.message}", file=sys.stderr)
        return exc.code


def cmd_status(as_json: bool = False, settings: Settings | None = None) -> int:
    def act(client: Client) -> int:
        body = client.call("GET", "/api/status")
        if as_json:
            print(json.dumps(body, indent=2))
        else:
            print_facts(body, sys.stdout)
        return 0

    return _run(act, settings)


def cmd_config_show(as_json: bool = False, settings: Settings | None = None) -> int:
    def act(client: Client) -> int:
        body = client.call("GET", "/api/console/config")
        if as_json:
            print(json.dumps(body, indent=2))
        else:
            show_config(body, sys.stdout)
        return 0

    return _run(act, settings)


def cmd_config_versions(limit: int = 50, as_json: bool = False,
                        settings: Settings | None = None) -> int:
    def act(client: Client) -> int:
        body = client.call("GET", f"/api/config/versions?limit={limit}")
        if as_json:
            print(json.dumps(body, indent=2))
        else:
            show_versions(body, sys.stdout)
        return 0

    return _run(act, settings)


def cmd_config_rollback(tag: str, reason: str = "", settings: Settings | None = None) -> int:
    def act(client: Client) -> int:
        payload: dict[str, Any] = {"version_tag": tag}
        if reason:
            payload["reason"] = reason
        body = client.call("POST", "/api/config/rollback", payload)
        print(f"rolled back: active version is now {body.get('version_tag')} "
              f"(a copy of {body.get('rolled_back_from')}; was {body.get('previous_version_tag')})")
        return 0

    return _run(act, settings)


def cmd_halt(state: str, reason: str, settings: Settings | None = None) -> int:
    """`titan halt STATE --reason …`: POST /api/system/halt on the running Titan."""

    def act(client: Client) -> int:
        body = client.call("POST", "/api/system/halt", {"state": state, "reason": reason})
        print(f"halt state is now {body.get('haltState')} (was {body.get('previous')}); "
              f"Master Arm {body.get('masterArm')}")
        for name, outcome in (body.get("actions") or {}).items():
            print(f"  {name}: {json.dumps(outcome, default=str)[:300]}")
        return 0

    return _run(act, settings)


def cmd_reconcile(as_json: bool = False, settings: Settings | None = None) -> int:
    """`titan reconcile`: POST /api/state/reconcile and print the report."""

    def act(client: Client) -> int:
        body = client.call("POST", "/api/state/reconcile")
        if as_json:
            print(json.dumps(body, indent=2))
        else:
            print(f"reconciliation: ok={body.get('ok')} clean={body.get('clean')} "
                  f"mismatches={len(body.get('mismatches') or [])}")
            for m in body.get("mismatches") or []:
                print(f"  {m.get('type')} {m.get('symbol')}: {m.get('detail')}")
            for a in body.get("actions") or []:
                print(f"  action: {json.dumps(a)}")
        return 0 if body.get("ok") else 1

    return _run(act, settings)


def show_strategies(body: dict[str, Any], out: TextIO) -> None:
    print(f"config version: {body.get('version_tag')}", file=out)
    for st in body.get("strategies", []):
        state = "running" if st.get("running") else "paused"
        switch = "enabled" if st.get("enabled") else "DISABLED"
        phases = ",".join(str(p) for p in st.get("phases", []))
        print(f"{st.get('name'):<12} {switch:<9} {state:<8} phases {phases}", file=out)
        for source, why in (st.get("pauses") or {}).items():
            print(f"    paused by {source}: {why}", file=out)


def cmd_strategy_list(as_json: bool = False, settings: Settings | None = None) -> int:
    """`titan strategy list`: GET /api/strategies."""

    def act(client: Client) -> int:
        body = client.call("GET", "/api/strategies")
        if as_json:
            print(json.dumps(body, indent=2))
        else:
            show_strategies(body, sys.stdout)
        return 0

    return _run(act, settings)


def cmd_strategy_switch(name: str, enabled: bool, reason: str,
                        settings: Settings | None = None) -> int:
    """`titan strategy enable|disable NAME --reason …`: POST /api/strategies/NAME."""

    def act(client: Client) -> int:
        body = client.call("POST", f"/api/strategies/{name}",
                           {"enabled": enabled, "reason": reason})
        st = body.get("strategy") or {}
        word = "enabled" if st.get("enabled") else "disabled"
        if not body.get("changed"):
            print(f"{name} was already {word}; no new config version")
        else:
            print(f"{name} {word}: config version {body.get('version_tag')} "
                  f"(was {body.get('previous_version_tag')})")
            if not enabled:
                print("  its working entries are being cancelled; its positions stay "
                      "(flatten them with FLATTEN ALL if you want them closed)")
        return 0

    return _run(act, settings)
