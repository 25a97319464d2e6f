"""Processes of the Procfile, started by a test as honcho starts them: the line's command through
/bin/sh, in the project's directory, with the given environment and the virtualenv first on PATH.
Running the Procfile's own lines tests what `make run` and a deploy run, not a copy of it.
"""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools import ROOT, processes
from devtools.waiting import wait_for


def procfile_command(name: str) -> str:
    """The command of the Procfile's ``name:`` line."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        process, _, command = line.partition(":")
        if process.strip() == name:
            return command.strip()
    raise KeyError(f"no {name!r} line in the Procfile")


@contextmanager
def procfile_process(
    name: str, env: dict[str, str], log: Path, ready: Callable[[], bool], cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    """Run the Procfile's ``name`` process until the block ends (SIGTERM, then wait); yield it once
    ``ready()`` is true. Its output goes to ``log``, quoted in the failure if it exits early. Started
    in another directory than the project's (``cwd``), it needs PYTHONPATH in ``env`` to find wsgi."""
    env = dict(env, PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""))
    with open(log, "wb") as out:
        process = subprocess.Popen(["/bin/sh", "-c", procfile_command(name)], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def started() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        return ready()

    try:
        wait_for(started, timeout=60, interval=0.2, message=f"the Procfile's {name} process to answer")
        yield process
    finally:
        processes.stop(process, timeout=40)  # the line's `exec` made the shell the server itself
