"""Celery's remote control of one worker: grow or shrink its pool, pause or resume a queue, warm shutdown.

Each command goes to one worker (``destination``) through the broker and waits at most
REPLY_SECONDS for its answer, which is shown as the worker gave it; silence is said as such, never
taken for success. A worker does not answer a shutdown (it stops instead), so a shutdown is sent
only to a worker that has just answered a ping. What a command changes lives in the worker's
memory: a restarted worker starts again with its -c and -Q.
"""

from dataclasses import dataclass
from typing import Any

from flask import current_app

REPLY_SECONDS = 3.0


@dataclass(frozen=True)
class Command:
    """One control an operator can send: its audit action, its Celery command and its words."""

    action: str
    celery: str
    doing: str  # what it does, as "worker … will …" reads: "grow its pool by one process"


COMMANDS = {
    command.action: command
    for command in (
        Command("worker_pool_grow", "pool_grow", "grow its pool by one process"),
        Command("worker_pool_shrink", "pool_shrink", "shrink its pool by one process"),
        Command("worker_queue_pause", "cancel_consumer", "stop taking messages from queue {queue}"),
        Command("worker_queue_resume", "add_consumer", "take messages from queue {queue} again"),
        Command("worker_shutdown", "shutdown", "finish its running tasks and stop (warm shutdown)"),
    )
}


@dataclass(frozen=True)
class Outcome:
    """What came back from one command to one worker."""

    worker: str
    command: Command
    queue: str | None
    answered: bool
    ok: bool
    reply: str

    @property
    def asked(self) -> str:
        """The request in words."""
        return f"{self.worker}: {self.command.doing.format(queue=self.queue)}"

    @property
    def sentence(self) -> str:
        """The request and its answer, for the page and the audit trail."""
        return f"{self.asked}: {self.reply}"


def read_reply(worker: str, replies: list[dict[str, Any]] | None) -> tuple[bool, bool, str]:
    """(answered, ok, text) of the worker's reply among ``replies``."""
    for reply in replies or []:
        if worker in reply:
            answer = reply[worker]
            if isinstance(answer, dict) and "ok" in answer:
                return True, True, f"the worker replied “{answer['ok']}”"
            if isinstance(answer, dict) and "error" in answer:
                return True, False, f"the worker refused: “{answer['error']}”"
            return True, True, f"the worker replied {answer!r}"
    return False, False, f"no reply in {REPLY_SECONDS:g} s: the worker may be stopped or unreachable, and nothing is known to have changed"


def send(worker: str, action: str, queue: str | None = None) -> Outcome:
    """Send the control ``action`` (a key of COMMANDS) to ``worker`` and wait for its reply."""
    command = COMMANDS[action]
    control = current_app.extensions["celery"].control
    if command.celery == "shutdown":
        return shut_down(worker, command)
    arguments = {"queue": queue} if queue else {"n": 1}
    replies = control.broadcast(command.celery, arguments=arguments, destination=[worker], reply=True, timeout=REPLY_SECONDS)
    answered, ok, text = read_reply(worker, replies)
    return Outcome(worker, command, queue, answered, ok, text)


def shut_down(worker: str, command: Command) -> Outcome:
    """Ping the worker, and only if it answers send it a warm shutdown (which it does not answer)."""
    control = current_app.extensions["celery"].control
    answered, _, text = read_reply(worker, control.ping(destination=[worker], timeout=REPLY_SECONDS))
    if not answered:
        return Outcome(worker, command, None, False, False, f"it did not answer a ping ({text}); no shutdown was sent")
    control.broadcast("shutdown", destination=[worker], reply=False)
    reply = "it answered a ping and was sent a warm shutdown; it takes no new task, and its status turns to stopped once it has stopped"
    return Outcome(worker, command, None, True, True, reply)
