"""Start a private RabbitMQ node for tests and fault drills, and give tests vhosts of their own.

The node has its own name, AMQP and distribution ports, data and log directories, config and
Erlang cookie (HOME is its directory), so it shares nothing with a RabbitMQ the machine runs:
a test may stop and start it mid-job without touching anyone else's broker. Stopped and started
again on the same port and data directory, it keeps its durable queues and persistent messages,
as a restarted production broker does.

Vhosts are made with ``rabbitmqctl`` (the node's own tool, no plugin needed); a broker that
only answers over the network is reached through its management API instead.
"""

import base64
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from devtools import processes
from devtools.ports import free_port
from devtools.waiting import wait_for

# Debian's rabbitmq-server package puts the node's own scripts here; /usr/sbin's wrappers switch users.
RABBITMQ_SCRIPTS = Path("/usr/lib/rabbitmq/bin")


def machine_rabbitmqctl() -> str | None:
    """The rabbitmqctl on PATH: for the machine's node, its wrapper runs as the user holding that node's cookie."""
    return shutil.which("rabbitmqctl")


def rabbitmq_script(name: str) -> str | None:
    """The path of a RabbitMQ script (``rabbitmq-server``, ``rabbitmqctl``), or None when RabbitMQ is not installed."""
    packaged = RABBITMQ_SCRIPTS / name
    return str(packaged) if packaged.exists() else shutil.which(name)


@dataclass
class PrivateRabbit:
    """A RabbitMQ node this program started and must stop: stop() then start() keeps its data."""

    workdir: Path
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    nodename: str = field(default_factory=lambda: f"celeriac-{os.getpid()}-{secrets.token_hex(3)}@localhost")
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The AMQP URL of the node's default vhost (guest may log in over 127.0.0.1 only)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def environment(self) -> dict[str, str]:
        """The environment of the node and of rabbitmqctl talking to it: everything under workdir."""
        return dict(
            os.environ,
            HOME=str(self.workdir),  # the Erlang cookie lives here
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.workdir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.workdir / "log"),
            RABBITMQ_CONFIG_FILE=str(self.workdir / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.workdir / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(self.workdir / "rabbitmq-env.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.workdir / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(self.workdir / "rabbitmq.pid"),
        )

    def write_config(self) -> None:
        """The node's files: a loopback listener, no plugins, no machine-wide environment file."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        (self.workdir / "advanced.config").write_text("[].\n")
        (self.workdir / "rabbitmq-env.conf").write_text("")
        (self.workdir / "enabled_plugins").write_text("[].\n")

    def start(self, timeout: float = 60.0) -> None:
        """Start the node (again, on the same port and data directory) and wait until it takes connections."""
        server = rabbitmq_script("rabbitmq-server")
        if server is None:
            raise RuntimeError("rabbitmq-server not found: install Debian's rabbitmq-server package (make test does)")
        self.write_config()
        log = open(self.workdir / "node.out", "ab")
        # Its own session: a terminal Ctrl-C reaches the processes using it first; we stop it last.
        self.process = subprocess.Popen([server], env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(self.booted, timeout=timeout, interval=0.2, message=f"RabbitMQ node {self.nodename} on port {self.port}")
        except AssertionError:
            self.stop()
            raise RuntimeError(
                f"RabbitMQ node {self.nodename} did not take connections on port {self.port} within {timeout:.0f} s"
            ) from None

    def booted(self) -> bool:
        """Whether the node answers; an error naming its output if it exited instead."""
        if self.process is not None and self.process.poll() is not None:
            tail = (self.workdir / "node.out").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"rabbitmq-server exited with code {self.process.returncode}:\n{tail}")
        return self.answers()

    def answers(self) -> bool:
        """Whether the node has booted (rabbitmqctl's await_startup returns only then)."""
        result = self.ctl("await_startup", "--timeout", "1", check=False)
        return result.returncode == 0 and port_open(self.port)

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``rabbitmqctl`` against this node."""
        command = [rabbitmq_script("rabbitmqctl") or "rabbitmqctl", "-n", self.nodename, *args]
        return subprocess.run(command, env=self.environment(), capture_output=True, text=True, timeout=60, check=check)

    def stop(self) -> None:
        """Stop the node as an operator would (SIGTERM: a clean shutdown); its data stays in workdir."""
        if self.process is not None:
            processes.stop(self.process, timeout=30)


def start_private_rabbit(workdir: str | Path) -> PrivateRabbit:
    """A new RabbitMQ node under ``workdir``, started."""
    node = PrivateRabbit(workdir=Path(workdir))
    node.start()
    return node


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def with_vhost(url: str, vhost: str) -> str:
    """``url`` with its path naming ``vhost``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))


@dataclass
class Vhosts:
    """Makes and deletes vhosts on a RabbitMQ broker, through rabbitmqctl on this machine or its management API."""

    url: str  # amqp://user:password@host:port (any vhost path is ignored)
    node: PrivateRabbit | None = None  # a private node is reached with its own rabbitmqctl environment

    def add(self, name: str) -> str:
        """Create vhost ``name``, let the URL's user do anything in it, and return its URL."""
        user = urlsplit(self.url).username or "guest"
        self.run(["add_vhost", name], "PUT", f"vhosts/{quote(name, safe='')}", None)
        self.run(
            ["set_permissions", "-p", name, user, ".*", ".*", ".*"],
            "PUT",
            f"permissions/{quote(name, safe='')}/{quote(user, safe='')}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        return with_vhost(self.url, name)

    def delete(self, name: str) -> None:
        """Delete vhost ``name`` with its queues and messages."""
        self.run(["delete_vhost", name], "DELETE", f"vhosts/{quote(name, safe='')}", None)

    def unacknowledged(self, vhost: str, queue: str) -> int:
        """Messages of ``queue`` delivered to a consumer and not acknowledged yet."""
        done = self.rabbitmqctl("list_queues", "-q", "--no-table-headers", "-p", vhost, "name", "messages_unacknowledged")
        if done is None:
            return int(self.management_get(f"queues/{quote(vhost, safe='')}/{quote(queue, safe='')}")["messages_unacknowledged"])
        counts = dict(line.split() for line in done.stdout.splitlines() if len(line.split()) == 2)
        return int(counts.get(queue, 0))

    def run(self, ctl_args: list[str], method: str, api_path: str, body: dict | None) -> None:
        """One change, with rabbitmqctl when it can reach the broker, else over the management API."""
        if self.rabbitmqctl(*ctl_args) is None:
            self.management(method, api_path, body).close()

    def rabbitmqctl(self, *args: str) -> subprocess.CompletedProcess[str] | None:
        """What rabbitmqctl answered, or None when it cannot reach the broker (not on this machine, or refused)."""
        if self.node is not None:
            return self.node.ctl(*args)
        ctl = machine_rabbitmqctl()
        if ctl is None or urlsplit(self.url).hostname not in ("127.0.0.1", "localhost"):
            return None
        done = subprocess.run([ctl, *args], capture_output=True, text=True, timeout=60, check=False)
        return done if done.returncode == 0 else None

    def management_get(self, api_path: str) -> dict:
        """Read from the management API."""
        with self.management("GET", api_path, None) as response:
            return json.loads(response.read())

    def management(self, method: str, api_path: str, body: dict | None) -> http.client.HTTPResponse:
        """Call the management API (RABBITMQ_MANAGEMENT_URL, else port 15672 of the broker's host)."""
        parts = urlsplit(self.url)
        base = os.environ.get("RABBITMQ_MANAGEMENT_URL") or f"http://{parts.hostname}:15672"
        data = None if method == "GET" else json.dumps(body or {}).encode()
        request = urllib.request.Request(f"{base.rstrip('/')}/api/{api_path}", method=method, data=data)
        credentials = f"{parts.username or 'guest'}:{parts.password or 'guest'}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
        request.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(request, timeout=30)
        except urllib.error.URLError as error:
            raise RuntimeError(
                f"could not {method} {api_path} on RabbitMQ: rabbitmqctl could not, nor its management API ({error})"
            ) from error
