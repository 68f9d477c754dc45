"""Every unit's duty to its own server: its files, starting it, restarting it in its turn of a
roll, and reporting what it is to the leader."""

from __future__ import annotations

import json
import logging
import time

import admin
import render
import rolling
import status
import tlsplan
from duties import NOTHING, Outcome
from ensemble import EnsembleConfig, Role
from shells import Shells
from snapshot import Snapshot
from state import MemberState, TLSPhase

logger = logging.getLogger(__name__)

# The dynamic file the charm writes to start a server; ZooKeeper writes the versioned ones.
START_DYNAMIC_FILE = "zoo.cfg.dynamic"
# Seconds a joiner's server may not serve after ZooKeeper wrote it a config without it before
# the charm calls it left out (the watcher's reminders bring the hook that looks again).
LEFT_OUT_AFTER = 10.0


def prepare(snap: Snapshot, io: Shells) -> Outcome:
    """Write what the server reads; start it if it is stopped; say whether it must restart."""
    if snap.published is None:  # the leader has not published the ensemble yet
        return Outcome(me=snap.me.model_copy(update={"state": MemberState.WAITING}), stop=True)
    workload = io.workload
    workload.ensure_dirs(snap.data_dir)
    phase = snap.cluster.tls
    if phase is not TLSPhase.OFF and snap.me.tls_ca is None and not workload.running():
        # The ensemble speaks TLS: a server without its certificate could not take part.
        return Outcome(
            me=snap.me.model_copy(update={"state": MemberState.WAITING}),
            held=status.WAITING_FOR_CERTIFICATE,
            stop=True,
        )
    dynamic_file, left_out = _dynamic_file(snap, io)
    layer = _layer(snap)
    desired = _write_files(snap, io, dynamic_file, layer)
    me = snap.me
    failed = me.failed_config if me.failed_config == desired else None  # new settings to try
    started_with = None
    if me.failed_config == desired and io.health.serving:
        # It came back after all, later than the roll waited: it runs these settings.
        started_with, failed = desired, None
    if left_out:
        workload.restart()  # a non-voter: nobody depends on it
        io.forget_health()
    if not workload.running():
        # Nothing to roll: a stopped server starts with the new settings.
        workload.apply_layer(layer)
        workload.start()
        io.forget_health()
        started_with = desired
    elif me.running_config is None:
        started_with = desired  # running since before the charm tracked it
    update = {"failed_config": failed}
    if started_with is not None:
        update |= {"running_config": started_with, "running_jaas": snap.jaas_fingerprint}
    running = update.get("running_config", me.running_config)
    update["pending_config"] = desired if running != desired else None
    if running == desired:
        update["running_tls"] = phase
    return Outcome(me=me.model_copy(update=update))


def _layer(snap: Snapshot) -> dict:
    return render.pebble_layer(
        snap.config, snap.unit.layout, snap.unit.address, backup_digest=snap.backup_digest
    )


def restart_in_turn(snap: Snapshot, io: Shells, restart_timeout: float) -> Outcome:
    """This unit's turn in the roll: restart and return; a later hook, woken by the
    workload's notice that the server serves again, sees that it came back."""
    me = snap.me
    if me.restarting is not None:
        return _restarted(snap, io, restart_timeout)
    if not me.pending_config or snap.cluster.restart_grant != snap.unit.ordinal:
        return NOTHING
    hosts = snap.voter_addresses
    if not admin.quorum_synced(hosts, len(hosts), **io.reach(snap.published)):
        return Outcome(held="waiting for every member to be in sync before restarting")
    layer = _layer(snap)
    io.workload.apply_layer(layer)
    io.workload.restart()
    io.forget_health()
    update = {
        "restarting": me.pending_config,
        "restarting_tls": snap.cluster.tls,
        "restarted_at": time.time(),
    }
    return Outcome(me=me.model_copy(update=update))


def _restarted(snap: Snapshot, io: Shells, restart_timeout: float) -> Outcome:
    me = snap.me
    hosts = snap.voter_addresses
    done = {"restarting": None, "restarting_tls": None, "restarted_at": None}
    if io.health.serving and admin.quorum_synced(hosts, len(hosts), **io.reach(snap.published)):
        running = me.restarting
        update = {
            **done,
            "running_config": running,
            "running_tls": me.restarting_tls,
            "running_jaas": snap.jaas_fingerprint,
            "failed_config": None,
            "pending_config": me.pending_config if me.pending_config != running else None,
        }
        return Outcome(me=me.model_copy(update=update))
    if time.time() - (me.restarted_at or 0.0) > restart_timeout:
        logger.error("zookeeper did not rejoin the quorum within %ss", restart_timeout)
        return Outcome(me=me.model_copy(update={**done, "failed_config": me.restarting}))
    return Outcome(held="restarted: waiting for zookeeper to rejoin the quorum")


def report(snap: Snapshot, io: Shells) -> Outcome:
    """Tell the leader what this server is now (what it adds or removes members by); a
    joiner not in sync yet says so, and its watcher's notice wakes it once it is."""
    health = io.health  # probed again only if this hook started or restarted the server
    update = {
        "state": MemberState.SERVING if health.serving else MemberState.STARTED,
        "mode": health.mode,
        "client_sessions": dict(health.sessions),
    }
    return Outcome(me=snap.me.model_copy(update=update))


def _dynamic_file(snap: Snapshot, io: Shells) -> tuple[str, bool]:
    """The dynamic config file this unit's server runs with, and whether ZooKeeper left the
    running server out of its config.

    ZooKeeper's own latest file if this unit votes (or its server runs); otherwise the
    committed ensemble the leader published, plus this unit as an observer: a joiner
    syncs as a non-voter and the leader then adds it (ZooKeeper's reconfig guide).
    """
    published = snap.published
    workload, layout, unit = io.workload, snap.unit.layout, snap.unit
    on_disk = workload.read(layout.zoo_cfg)
    current = render.parse_properties(on_disk or "").get("dynamicConfigFile")
    left_out = False
    if current and workload.exists(current) and (snap.votes or workload.running()):
        if (
            snap.votes
            or unit.myid in EnsembleConfig.parse(workload.read(current) or "").ids
            # A joiner syncing gets the committed config, which does not name it until the
            # leader adds it: it serves meanwhile, or soon after ZooKeeper wrote the file.
            or io.health.serving
            or workload.age(current) < LEFT_OUT_AFTER
        ):
            return current, False
        # A joiner whose server ZooKeeper left out: it synced as an observer, then the
        # leader committed a config that added another joiner without it, and a server
        # outside its own config never serves again. It votes nowhere: start it afresh.
        logger.warning("this server was left out of the ensemble's config; restarting it")
        left_out = True
    me = unit.server(
        unit.ordinal,
        Role.PARTICIPANT if snap.votes else Role.OBSERVER,
        loopback=tlsplan.plaintext_on_loopback(snap.cluster.tls),
    )
    others = tuple(s for s in published.servers if s.id != me.id)
    path = str(layout.conf_dir / START_DYNAMIC_FILE)
    workload.write(path, EnsembleConfig((*others, me)).render())
    return path, left_out


def _write_files(snap: Snapshot, io: Shells, dynamic_file: str, layer: dict) -> str:
    """Write what differs; return the fingerprint of what a (re)started server reads.

    Files are written at once, restarts wait for the roll: a server reads its files only
    when it starts, and one that crashes meanwhile comes back with the new settings.
    """
    workload, layout = io.workload, snap.unit.layout
    jaas = render.jaas(snap.credentials)
    log_config = render.log_config(layout, snap.config.log_level)
    wanted = {
        snap.data_dir / "myid": render.myid_file(snap.unit.myid),
        layout.jaas: jaas,
        layout.log_config: log_config,
    }
    for path, text in wanted.items():
        if workload.read(path) != text:
            workload.write(path, text, secret=path == layout.jaas)
    zoo_cfg = render.zoo_cfg(
        snap.config,
        layout,
        snap.unit.address,
        dynamic_file,
        enforce_auth=not snap.open_chroots,
        tls=snap.cluster.tls,
        data_dir=snap.cluster.data_dir,
    )
    on_disk = workload.read(layout.zoo_cfg) or ""
    # ZooKeeper rewrites zoo.cfg itself; only a change in the charm's settings counts.
    if render.parse_properties(on_disk).get("dynamicConfigFile") != dynamic_file or (
        render.static_settings(on_disk) != render.static_settings(zoo_cfg)
    ):
        workload.write(layout.zoo_cfg, zoo_cfg)
    static = render.static_settings(zoo_cfg)
    return rolling.fingerprint(
        [
            *(f"{key}={value}" for key, value in sorted(static.items())),
            jaas,
            # logback rereads its file while running: a log level needs no restart.
            "" if layout.live_log_config else log_config,
            json.dumps(layer, sort_keys=True),
            str(snap.cluster.restart_generation),
        ]
    )
