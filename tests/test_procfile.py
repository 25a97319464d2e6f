"""The Procfile's lines as honcho runs them (tests/procfile.py reads them)."""

import subprocess

import pytest

from tests.procfile import procfile_command


@pytest.mark.parametrize(("env", "logs"), [({}, False), ({"SANDBOX_ACCESS_LOG": "1"}, True)])
def test_the_sandbox_logs_each_call_only_when_asked(env: dict[str, str], logs: bool) -> None:
    """No access-log line per ERP call in `make run`'s output unless SANDBOX_ACCESS_LOG is set."""
    # The line as /bin/sh expands it (honcho runs it so), with exec replaced by echo.
    command = procfile_command("sandbox").replace("exec gunicorn", "echo gunicorn", 1)
    expanded = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, check=True).stdout
    assert expanded.startswith("gunicorn wsgi_sandbox:app")
    assert ("--access-logfile -" in expanded) is logs
