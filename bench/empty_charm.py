"""The floor bench/hooks.py compares the charm with: an ops charm that does nothing.

It is dispatched exactly as the real charm is (same metadata.yaml, config.yaml and
actions.yaml, same unit state, same ops and ops.testing, a fresh process in the same pod),
so whatever it costs is what ops, Python and the harness cost any charm. It observes
update-status with an empty handler, so the event is emitted to an observer as it is for
the real charm. Its dispatch freezes the garbage collector's view of the imported
modules as the real charm's `__main__` does, so neither pays for walking them at exit.
"""

from __future__ import annotations

import ops


class EmptyCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        framework.observe(self.on.update_status, self._on_update_status)

    def _on_update_status(self, event: ops.UpdateStatusEvent) -> None:
        pass


if __name__ == "__main__":  # pragma: nocover
    import gc

    gc.freeze()
    ops.main(EmptyCharm)
