"""A process as if on a machine of its own: its own working directory, TMPDIR, HOME, instance
folder and UPLOAD_FOLDER, all empty at the start, so a test can tell what it left on its disk."""

from dataclasses import dataclass
from pathlib import Path

from devtools import ROOT

PLACES = ("cwd", "tmp", "home", "instance", "uploads")


@dataclass(frozen=True)
class Machine:
    """The directories of one process, under ``root``."""

    root: Path

    @classmethod
    def make(cls, root: Path) -> "Machine":
        """A machine whose directories exist, empty."""
        for place in PLACES:
            (root / place).mkdir(parents=True)
        return cls(root)

    def place(self, name: str) -> Path:
        """One of PLACES."""
        return self.root / name

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with this machine's directories, and PYTHONPATH to find the project from elsewhere.

        No XDG_RUNTIME_DIR: a runtime directory is per user, shared by every process of the host.
        """
        env = {name: value for name, value in base.items() if name != "XDG_RUNTIME_DIR"}
        env.update(
            PYTHONPATH=str(ROOT),
            TMPDIR=str(self.place("tmp")),
            HOME=str(self.place("home")),
            INSTANCE_PATH=str(self.place("instance")),
            UPLOAD_FOLDER=str(self.place("uploads")),
        )
        return env

    def files(self) -> list[str]:
        """Every file under the machine's directories, relative to its root (a prefork pool's own
        multiprocessing directories, ``tmp/pymp-*``, aside: they live and die with the pool)."""
        found = (path.relative_to(self.root) for path in self.root.rglob("*") if path.is_file())
        return sorted(str(path) for path in found if not (path.parts[0] == "tmp" and path.parts[1].startswith("pymp-")))
