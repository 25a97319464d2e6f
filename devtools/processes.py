"""Ending a server process the tests or the launcher started: politely first, then for good."""

import subprocess


def stop(process: subprocess.Popen, timeout: float) -> None:  # type: ignore[type-arg]
    """SIGTERM the process and wait up to ``timeout`` seconds for it to exit; SIGKILL it if it has not.
    Does nothing if it has exited already."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
