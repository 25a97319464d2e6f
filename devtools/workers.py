"""Celery worker processes (and beat) started by a test, a benchmark or the soak, each with its own log file."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from devtools import ROOT
from devtools.waiting import wait_for

if TYPE_CHECKING:
    from celery import Celery


def broker_probe(env: dict[str, str]) -> "Celery":
    """A bare Celery app on the broker and Redis that ``env`` names, to ping workers with."""
    from celery import Celery

    from webapp.broker import broker_url_from_env

    probe = Celery(broker=broker_url_from_env(env), backend=env["REDIS_URL"])
    probe.conf.update(accept_content=["json"], task_serializer="json", result_serializer="json")
    return probe


class WorkerSet:
    """Celery worker processes started by a test, each with its own log file."""

    def __init__(self, env: dict[str, str], log_dir: Path, cwd: Path = ROOT) -> None:
        self.env = env
        self.log_dir = log_dir
        self.cwd = cwd  # another directory needs PYTHONPATH in env to find wsgi
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.layouts: dict[str, tuple[str, str, str, int]] = {}  # node → what start() was given
        self.counter = 0

    def start(self, name: str, queues: str, pool: str, concurrency: int) -> str:
        """Start a worker consuming ``queues``; return its node name."""
        self.counter += 1
        node = f"{name}{self.counter}-{os.getpid()}@localhost"
        self.processes[node] = self.spawn(
            f"{name}{self.counter}", "worker", "-Q", queues, "-P", pool, "-c", str(concurrency), "-n", node,
            "--without-gossip", "--without-mingle",
        )  # fmt: skip
        self.layouts[node] = (name, queues, pool, concurrency)
        return node

    def replace_exited(self) -> list[str]:
        """Start a worker like each one that exited by itself; return the nodes replaced.

        What a deployment's process supervisor does: Celery's worker can end itself when Redis
        goes away under it (kombu's "Unrecoverable error" while acking during the reconnection,
        see docs/BENCHMARKS.md, "Soak"). Tests of a Redis restart call it while they wait.
        """
        exited = [node for node, proc in self.processes.items() if node in self.layouts and proc.poll() is not None]
        for node in exited:
            del self.processes[node]
            self.start(*self.layouts.pop(node))
        return exited

    def start_beat(self) -> str:
        """Start beat (the outbox relay and the sweeper), as the Procfile's beat process."""
        self.counter += 1
        name = f"beat{self.counter}"
        self.processes[name] = self.spawn(name, "beat", "--schedule", str(self.log_dir / f"{name}-schedule"))
        return name

    def spawn(self, log_name: str, *args: str) -> subprocess.Popen:  # type: ignore[type-arg]
        """Run ``celery -A wsgi:celery_app <args>`` at INFO, its output in LOG_DIR/<log_name>.log."""
        log = open(self.log_dir / f"{log_name}.log", "wb")
        command = [sys.executable, "-m", "celery", "-A", "wsgi:celery_app", *args, "--loglevel", "INFO"]
        return subprocess.Popen(command, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every started worker answers a ping."""
        probe = broker_probe(self.env)
        wanted = {node for node, proc in self.processes.items() if proc.poll() is None and "@" in node}

        def all_answer() -> bool:
            for node, proc in self.processes.items():
                if proc.poll() is not None:
                    tail = (self.log_dir / f"{node.split('-')[0]}.log").read_text(errors="replace")[-2000:]
                    raise AssertionError(f"{node} exited with code {proc.returncode}:\n{tail}")
            replies = probe.control.ping(timeout=0.5) or []
            return wanted <= {name for reply in replies for name in reply}

        wait_for(all_answer, timeout=timeout, interval=0.2, message=f"workers {sorted(wanted)} to answer")

    def kill(self, node: str, sig: int = signal.SIGKILL) -> None:
        """Kill a worker's main process and its pool children at once (as a machine crash would)."""
        proc = self.processes.pop(node)
        self.layouts.pop(node, None)
        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        for pid in family:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        """Warm-stop every worker this set started; kill those that do not stop in time."""
        for proc in list(self.processes.values()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for node, proc in list(self.processes.items()):
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.kill(node)
        self.processes.clear()
        self.layouts.clear()
