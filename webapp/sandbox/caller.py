"""The caller of a sandbox ERP request: whether it hung up, and a wait that ends when it does.

The sandbox's chaos holds a request for its latency, or for SANDBOX_TIMEOUT_SLEEP when it plays a
timeout. A fetch step gives up after ERP_TIMEOUT and closes its connection; holding the thread on
for the rest of the chaos would serve nobody, and with enough such requests a fresh one would wait
behind them for minutes. So a hold ends as soon as the caller is gone, and a request that waited
for a thread after its caller left ends at once.
"""

import select
import socket
import time

from flask import request

STEP_S = 0.05


def caller_socket() -> socket.socket | None:
    """The client connection of this request, as gunicorn or werkzeug's server hand it over (None in tests' clients)."""
    environ = request.environ
    return environ.get("gunicorn.socket") or environ.get("werkzeug.socket")


def caller_gone() -> bool:
    """True when the caller closed its end of the connection (it stopped waiting for the answer).

    A closed connection reads as end of file; bytes waiting mean the caller is still there. The
    peek takes nothing from the connection.
    """
    sock = caller_socket()
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (ConnectionError, OSError):
        return True
    except ValueError:  # a TLS socket refuses flags: no way to tell, so the caller is taken as there
        return False


def hold(seconds: float) -> bool:
    """Wait ``seconds``, or less if the caller hangs up; True when the caller is still there."""
    deadline = time.monotonic() + seconds
    while not caller_gone():
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(STEP_S, left))
    return False
