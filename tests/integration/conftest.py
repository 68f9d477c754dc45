"""Fixtures of the Juju integration tests: the workload image and the charm, built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

REPO = Path(__file__).resolve().parents[2]
METADATA = yaml.safe_load((REPO / "metadata.yaml").read_text())
IMAGE_RESOURCE = "zookeeper-image"

_BUILT_CHARM = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--zookeeper-image",
        default=None,
        help=(
            f"OCI image of the ZooKeeper rock for the {IMAGE_RESOURCE} resource, e.g. "
            "localhost:32000/zookeeper:3.9.4 (default: $ZOOKEEPER_IMAGE, else the "
            "upstream-source in metadata.yaml)"
        ),
    )


@pytest.fixture(scope="session")
def zookeeper_image(request: pytest.FixtureRequest) -> str:
    """The rock to deploy: --zookeeper-image, else $ZOOKEEPER_IMAGE, else upstream-source."""
    return (
        request.config.getoption("--zookeeper-image", default=None)
        or os.environ.get("ZOOKEEPER_IMAGE")
        or METADATA["resources"][IMAGE_RESOURCE]["upstream-source"]
    )


@pytest_asyncio.fixture(scope="module")
async def charm(ops_test, request: pytest.FixtureRequest) -> Path:
    """The packed charm; `charmcraft pack` runs once per session, whatever the modules."""
    stash = request.config.stash
    if _BUILT_CHARM not in stash:
        stash[_BUILT_CHARM] = await ops_test.build_charm(REPO)
    return stash[_BUILT_CHARM]
