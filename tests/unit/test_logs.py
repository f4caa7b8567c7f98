import json

import pytest
from loguru import logger

from titan.logs import register_secret, setup_logging


def test_secrets_redacted_and_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", json_lines=True)
    register_secret("hunter2-very-secret")
    logger.info("ORDER_FILLED key=hunter2-very-secret qty=1")
    import logging
    logging.getLogger("pybit").warning("stdlib says hunter2-very-secret")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2
    records = [json.loads(line)["record"]["message"] for line in out]
    assert records[0] == "ORDER_FILLED key=*** qty=1"
    assert records[1] == "stdlib says ***"
    assert "hunter2" not in "".join(out)
    setup_logging("INFO", json_lines=False)
