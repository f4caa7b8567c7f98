from pathlib import Path

import pytest

from titan.settings import SettingsError, VenueName, load_settings


def test_defaults_match_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("TITAN_"):
            monkeypatch.delenv(key)
    s = load_settings(_env_file=None)
    assert (s.host, s.port, s.venue) == ("127.0.0.1", 8080, VenueName.PAPER)
    assert s.database == Path("data/titan.db")
    assert s.backups == Path("data/backups")
    assert s.console_user == "titan_admin" and s.console_password is None


def test_paths_follow_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TITAN_DATA_DIR", str(tmp_path))
    s = load_settings(_env_file=None)
    assert s.database == tmp_path / "titan.db" and s.backups == tmp_path / "backups"


@pytest.mark.parametrize(
    ("var", "value", "named"),
    [
        ("TITAN_PORT", "eighty", "TITAN_PORT"),
        ("TITAN_PORT", "70000", "TITAN_PORT"),
        ("TITAN_VENUE", "kraken", "TITAN_VENUE"),
        ("TITAN_LOG_LEVEL", "LOUD", "TITAN_LOG_LEVEL"),
        ("TITAN_BYBIT_URL", "localhost:9000", "TITAN_BYBIT_URL"),
        ("TITAN_BYBIT_TESTNET", "maybe", "TITAN_BYBIT_TESTNET"),
        ("TITAN_NOTIFY_URLS", "not-a-url", "TITAN_NOTIFY_URLS"),
        ("TITAN_NOTIFY_URLS", "json://127.0.0.1/ok nosuch://x", "TITAN_NOTIFY_URLS"),
        ("TITAN_NOTIFY_MIN_SEVERITY", "LOUD", "TITAN_NOTIFY_MIN_SEVERITY"),
        ("TITAN_NOTIFY_DAILY_AT", "25:00", "TITAN_NOTIFY_DAILY_AT"),
        ("TITAN_NOTIFY_DAILY_AT", "8am", "TITAN_NOTIFY_DAILY_AT"),
    ],
)
def test_invalid_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, named: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None)
    msg = str(err.value)
    assert named in msg and "\n" not in msg


def test_real_venue_needs_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_VENUE", "bybit")
    monkeypatch.delenv("TITAN_BYBIT_API_KEY", raising=False)
    with pytest.raises(SettingsError, match="TITAN_BYBIT_API_KEY"):
        load_settings(_env_file=None)


def test_secrets_are_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_BYBIT_API_SECRET", "s3cr3t-value")
    monkeypatch.setenv("TITAN_CONSOLE_PASSWORD", "pw-value-123")
    s = load_settings(_env_file=None)
    assert "s3cr3t-value" not in repr(s) and "pw-value-123" not in repr(s)
