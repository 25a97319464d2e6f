"""Run Celeriac on one machine: ``make run`` calls this with the virtualenv's Python.

It prepares what a fresh checkout lacks, then starts the Procfile's ``web``, ``worker``, ``io``,
``beat`` and ``sandbox`` processes under honcho:

- a SECRET_KEY kept in ``instance/secret_key`` (created once, mode 600) unless SECRET_KEY is set;
- a private Redis server unless REDIS_URL is set (stopped again on exit);
- SQLite under ``instance/`` unless DATABASE_URL is set;
- the sandbox ERP in its own process on the next free port after the dashboard's (SANDBOX_PORT),
  and ERP_API_URL pointing at it; not when SANDBOX_ENABLED says no, nor, SANDBOX_ENABLED unset,
  when ERP_API_URL names an ERP already;
- migrations, an ``admin`` operator when there is none (its password is printed once, last, when
  the dashboard and the workers answer), demo data.

Variables from ``.env`` count as set, and win over the shell's, as they do for honcho itself.
Ctrl-C stops honcho and everything it started, then the private Redis; the exit code is honcho's.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from devtools.localredis import start_private_redis, without_password  # noqa: E402

INSTANCE = ROOT / "instance"
PROCESSES = ("web", "worker", "io", "beat")  # never "release": it exits, and honcho would stop the rest
SANDBOX = "sandbox"  # the Procfile's sandbox ERP, started too unless SANDBOX_ENABLED says no
DEFAULT_PORT = 5000
SQLITE_WORKER_CONCURRENCY = "2"  # SQLite has one writer at a time; a few prefork processes are enough


class LaunchError(Exception):
    """A problem the user can fix; reported in one line, without a traceback."""


def check_dependencies() -> None:
    """Fail early, with a hint, when this Python lacks the project's packages."""
    try:
        import flask  # noqa: F401
        import honcho  # noqa: F401
    except ImportError as exc:
        raise LaunchError(f"{exc.name} is not installed for {sys.executable}; run `make run`") from exc


def read_env_file(path: Path) -> dict[str, str]:
    """Variables of a ``.env`` file, parsed the way honcho parses it (empty when there is none)."""
    from honcho.environ import parse

    try:
        return parse(path.read_text())
    except FileNotFoundError:
        return {}


def base_environment() -> dict[str, str]:
    """The shell's environment overlaid with ``.env``, as honcho will hand it to the processes."""
    env = dict(os.environ)
    env.update(read_env_file(ROOT / ".env"))
    return env


def ensure_instance_dir() -> Path:
    """Create ``instance/`` (database, secret key, beat schedule, Redis working directory)."""
    INSTANCE.mkdir(exist_ok=True)
    return INSTANCE


def stored_secret_key(instance: Path) -> str:
    """The key in ``instance/secret_key``; generate it (readable by the owner only) the first time."""
    path = instance / "secret_key"
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
        path.unlink()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` (checked on all interfaces, as gunicorn's default binds)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def choose_port(env: Mapping[str, str]) -> int:
    """PORT if set; otherwise 5000, or the next free port above it."""
    if env.get("PORT"):
        return int(env["PORT"])
    for port in range(DEFAULT_PORT, DEFAULT_PORT + 100):
        if port_is_free(port):
            return port
    raise LaunchError(f"no free port between {DEFAULT_PORT} and {DEFAULT_PORT + 99}; set PORT")


def choose_sandbox_port(env: Mapping[str, str], web_port: int) -> int:
    """SANDBOX_PORT if set; otherwise the first free port above the dashboard's."""
    if env.get("SANDBOX_PORT"):
        return int(env["SANDBOX_PORT"])
    for port in range(web_port + 1, web_port + 100):
        if port_is_free(port):
            return port
    raise LaunchError(f"no free port between {web_port + 1} and {web_port + 99} for the sandbox ERP; set SANDBOX_PORT")


def sandbox_wanted(env: Mapping[str, str]) -> bool:
    """Whether to run the sandbox ERP: as SANDBOX_ENABLED says; when unset, unless ERP_API_URL
    names an ERP already."""
    value = env.get("SANDBOX_ENABLED", "").strip().lower()
    if value:
        return value in {"1", "true", "yes", "on"}
    return not env.get("ERP_API_URL")


def local_defaults(env: Mapping[str, str], port: int, sandbox_port: int | None, instance: Path) -> dict[str, str]:
    """Settings for a plain-http run on localhost; each applies only where the variable is unset."""
    defaults = {
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        "COOKIE_SECURE": "0",
        # A local run's /metrics may be scraped from this machine without a token.
        "METRICS_LOCAL_SCRAPE": "1",
        # Listen on localhost only: this is a development run.
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
        "BEAT_SCHEDULE_FILE": str(instance / "celerybeat-schedule"),
        # .env is applied here already; this also silences flask's python-dotenv tip about .flaskenv.
        "FLASK_SKIP_DOTENV": "1",
    }
    if not env.get("DATABASE_URL"):
        defaults["WORKER_CONCURRENCY"] = SQLITE_WORKER_CONCURRENCY
    if sandbox_port is not None:
        # The sandbox ERP runs in a process of its own (the Procfile's sandbox line), so its chaos
        # never holds a thread of the dashboard's; the workers are told where it listens.
        defaults.update(
            {"SANDBOX_ENABLED": "1", "SANDBOX_PORT": str(sandbox_port), "ERP_API_URL": f"http://127.0.0.1:{sandbox_port}/sandbox/api"}
        )
    return {name: value for name, value in defaults.items() if not env.get(name)}


def with_venv_on_path(env: dict[str, str]) -> dict[str, str]:
    """Put this interpreter's bin directory first on PATH so the Procfile finds gunicorn and celery."""
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def start_redis(instance: Path) -> Any:
    """Start a private Redis server (see devtools.localredis); the caller must call ``.stop()``."""
    return start_private_redis(workdir=str(instance))


def flask_command(*args: str) -> list[str]:
    """The argv of a ``flask --app wsgi ...`` command run by this interpreter."""
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def run_step(title: str, argv: list[str], env: Mapping[str, str], echo: bool = True) -> str:
    """Run one preparation command; echo (unless told not to) and return its standard output, raise if it fails."""
    print(f"==> {title}", flush=True)
    result = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    if echo:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
    if result.returncode != 0:
        raise LaunchError(f"{' '.join(argv[2:])} failed with exit code {result.returncode}")
    return result.stdout


def prepare_database(env: Mapping[str, str]) -> str:
    """Migrate, create the first operator and seed the demo job; return the first login's words
    (empty when an operator existed), printed last, once every process is up, not here where the
    processes' banners would scroll them away."""
    run_step("Migrating the database", flask_command("db", "upgrade"), env)
    login = run_step("Checking for an operator", flask_command("operators", "ensure-admin"), env, echo=False)
    run_step("Seeding demo data", flask_command("demo", "seed"), env)
    return login.strip()


def print_banner(url: str, login_printed: bool, env: Mapping[str, str], private_redis: bool, processes: tuple[str, ...]) -> None:
    """Say where the dashboard is and how to log in, before honcho's output starts."""
    redis_note = "private, with a random password, stopped on exit" if private_redis else "from REDIS_URL"
    database = "from DATABASE_URL" if env.get("DATABASE_URL") else "SQLite in instance/"
    print()
    print(f"Celeriac dashboard: {url}")
    if login_printed:
        print("Log in as admin with the one-time password printed below once every process is up (shown only once);")
        print("you choose a new one at first login.")
    else:
        print("Log in with an existing operator; see README.md, Operators, to create another one.")
    print(f"Database: {database}; Redis: {without_password(env['REDIS_URL'])} ({redis_note}).")
    print(f"ERP: {env['ERP_API_URL']}" + (" (the sandbox ERP, its own process)" if SANDBOX in processes else "."))
    print(f"Starting {', '.join(processes)}; press Ctrl-C to stop them all.")
    print(flush=True)


def login_page_answers(url: str) -> bool:
    """Whether the dashboard's login page answers 200."""
    try:
        with urllib.request.urlopen(url + "login", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def workers_answer(redis_url: str, count: int) -> bool:
    """Whether ``count`` Celery workers answer a ping: their banners are out by then."""
    from celery import Celery

    probe = Celery(broker=redis_url)
    try:
        return len(probe.control.ping(timeout=1.0) or []) >= count
    except Exception:  # the broker not answering yet is the same as no worker
        return False
    finally:
        probe.close()


def announce_when_ready(
    url: str, process: subprocess.Popen[bytes], login: str, env: Mapping[str, str], workers: int, timeout: float = 120.0
) -> threading.Thread:
    """Print the URL again, and the first login last, once the dashboard and the workers answer
    (honcho's output soon buries the banner: the workers' own banners come after the web's)."""

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None and not login_page_answers(url):
            time.sleep(0.5)
        while time.monotonic() < deadline and process.poll() is None and not workers_answer(env["REDIS_URL"], workers):
            time.sleep(0.5)
        if process.poll() is None:
            lines = [f"Celeriac is up: {url}", *login.splitlines()]
            rule = "=" * max(len(line) + 4 for line in lines)
            print("\n".join([rule, *(f"*** {line}" for line in lines), rule]), flush=True)

    thread = threading.Thread(target=wait, name="announce-ready", daemon=True)
    thread.start()
    return thread


def start_honcho(env: Mapping[str, str], processes: tuple[str, ...]) -> subprocess.Popen[bytes]:
    """Start ``honcho start web worker io beat sandbox``; it gets signals only from us (its own session)."""
    argv = [sys.executable, "-m", "honcho", "start", "-f", "Procfile", *processes]
    return subprocess.Popen(argv, cwd=ROOT, env=dict(env), start_new_session=True)


def forward_signals(process: subprocess.Popen[bytes]) -> None:
    """Pass Ctrl-C to honcho as SIGINT, and SIGTERM or SIGHUP as SIGTERM; honcho then stops its processes."""

    def forward(signum: int, _frame: object) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)


def exit_on_termination() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit so ``finally`` blocks still stop the private Redis."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, leave)


def run_honcho(env: Mapping[str, str], url: str, processes: tuple[str, ...], login: str) -> int:
    """Run honcho until it exits (by itself or on a forwarded signal); return its exit code."""
    process = start_honcho(env, processes)
    forward_signals(process)
    announce_when_ready(url, process, login, env, workers=len({"worker", "io"} & set(processes)))
    return process.wait()


def stop_redis(server: Any) -> None:
    """Stop the private Redis server, ignoring Ctrl-C while it shuts down."""
    if server is None:
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        print(f"Stopping the private Redis server (port {server.port})", flush=True)
        server.stop()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def main() -> int:
    """Prepare the environment and database, run the processes, clean up; return the exit code."""
    exit_on_termination()
    redis_server = None
    try:
        check_dependencies()
        env = base_environment()
        instance = ensure_instance_dir()
        if not env.get("SECRET_KEY"):
            env["SECRET_KEY"] = stored_secret_key(instance)
        port = choose_port(env)
        with_sandbox = sandbox_wanted(env)
        sandbox_port = choose_sandbox_port(env, port) if with_sandbox else None
        env.update(local_defaults(env, port, sandbox_port, instance))
        processes = PROCESSES + ((SANDBOX,) if with_sandbox else ())
        env = with_venv_on_path(env)
        private_redis = not env.get("REDIS_URL")
        if private_redis:
            redis_server = start_redis(instance)
            env["REDIS_URL"] = redis_server.url
        login = prepare_database(env)
        url = f"http://127.0.0.1:{port}/"
        print_banner(url, bool(login), env, private_redis, processes)
        return run_honcho(env, url, processes, login)
    except LaunchError as exc:
        print(f"launch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("launch: interrupted", file=sys.stderr)
        return 130
    finally:
        stop_redis(redis_server)


if __name__ == "__main__":
    sys.exit(main())
