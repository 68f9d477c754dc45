"""Where a Pebble plan's log targets send logs, read as Pebble reads them."""

from __future__ import annotations


def forwarded(targets: dict) -> dict[str, str]:
    """Target name -> location, for targets whose services, read left to right (`-all`
    clears what came before), leave some (Pebble's layer specification)."""
    sent = {}
    for name, target in targets.items():
        services: list[str] = []
        for service in target.get("services", []):
            services = [] if service == "-all" else [*services, service]
        if services:
            sent[name] = target["location"]
    return sent
