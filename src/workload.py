"""Pebble shell: files, layer and service state of the zookeeper container. No decisions here."""

from __future__ import annotations

import logging
import time

import ops

from cos import LOG_LAYER
from layout import Layout
from render import SERVICE

logger = logging.getLogger(__name__)


class Workload:
    def __init__(self, container: ops.Container, layout: Layout):
        self.container = container
        self.layout = layout

    @property
    def reachable(self) -> bool:
        return self.container.can_connect()

    def read(self, path) -> str | None:
        try:
            return self.container.pull(str(path)).read()
        except (ops.pebble.PathError, FileNotFoundError):
            return None

    def exists(self, path) -> bool:
        return self.container.exists(str(path))

    def age(self, path) -> float:
        """Seconds since the file was last written (0 if it cannot be told)."""
        try:
            (info,) = self.container.list_files(str(path))
        except (ops.pebble.APIError, ops.pebble.PathError, ValueError):
            return 0.0
        if info.last_modified is None:
            return 0.0
        return max(0.0, time.time() - info.last_modified.timestamp())

    def write(self, path, text: str, secret: bool = False) -> None:
        self.container.push(
            str(path),
            text,
            make_dirs=True,
            permissions=0o600 if secret else 0o644,
            user=self.layout.user,
            group=self.layout.group,
        )

    def write_stream(self, path, stream) -> None:
        """A large binary file (a snapshot), streamed to the container, for ZooKeeper only."""
        self.container.push(
            str(path),
            stream,
            make_dirs=True,
            permissions=0o640,
            user=self.layout.user,
            group=self.layout.group,
        )

    def ensure_dirs(self, data_dir=None) -> None:
        # The storage mount belongs to root; ZooKeeper (non-root) must own what it writes to,
        # including the config dir, where it writes its own dynamic config files.
        for path in (self.layout.conf_dir, data_dir or self.layout.data_dir):
            if not self.container.exists(str(path)):
                self.container.make_dir(
                    str(path),
                    make_parents=True,
                    permissions=0o750,
                    user=self.layout.user,
                    group=self.layout.group,
                )

    def apply_layer(self, layer: dict, label: str = SERVICE) -> bool:
        """Set the plan; True if it changed (Pebble restarts what changed on replan)."""
        current = self.container.get_plan().to_dict()
        wanted = ops.pebble.Layer(layer).to_dict()
        if all(
            current.get(section, {}).get(name) == value
            for section in ("services", "checks")
            for name, value in wanted.get(section, {}).items()
        ):
            return False
        self.container.add_layer(label, layer, combine=True)
        return True

    def log_targets(self) -> dict[str, dict]:
        return self.container.get_plan().to_dict().get("log-targets", {})

    def add_log_targets(self, targets: dict[str, dict]) -> None:
        """Pebble applies log targets as soon as the plan has them: nothing restarts."""
        self.container.add_layer(LOG_LAYER, {"log-targets": targets}, combine=True)

    def replan(self) -> None:
        self.container.replan()

    def running(self) -> bool:
        try:
            return self.container.get_service(SERVICE).is_running()
        except ops.ModelError:
            return False

    def start(self) -> None:
        self.container.replan()
        if not self.running():
            self.container.start(SERVICE)

    def stop(self) -> None:
        logger.info("stopping %s", SERVICE)
        self.container.stop(SERVICE)

    def restart(self) -> None:
        logger.info("restarting %s", SERVICE)
        self.container.restart(SERVICE)
