"""The chaos suite runs on the live substrate: its fixtures and its one-thread start."""

from tests.live.conftest import *  # noqa: F403 (the cluster fixture and the live hooks)
