"""Backups of the ensemble to S3 and the checks of a restore: the decisions are pure, the
one function that does I/O (`take`) is given its shells.

A backup is two objects under `<path>/<backup-id>/`: `snapshot` (the admin server's
snapshot, as ZooKeeper wrote it) and `manifest.json`, written last, so a backup without a
manifest is one that did not finish and is neither listed nor restored.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import pathlib
import re
import tempfile
from collections.abc import Callable, Mapping

import zksnap

SNAPSHOT = "snapshot"
MANIFEST = "manifest.json"
# UTC, sortable, and a valid action result key (Juju allows lowercase, digits and hyphens).
ID_FORMAT = "%Y%m%d-%H%M%S"
_ID = re.compile(r"\d{8}-\d{6}")
# A scheduled backup later than this past its due time is overdue (update-status runs
# every 5 minutes by default; a few missed runs are not yet worth a status).
OVERDUE_AFTER = 30 * 60
# The most differences a failed restore check names in its status.
SHOWN_DIFFERENCES = 5


class BackupError(Exception):
    """The backup could not be taken; the message names the fix."""


def new_id(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime(ID_FORMAT)


def valid_id(text: str) -> bool:
    return bool(_ID.fullmatch(text))


def manifest(
    parsed: zksnap.Parsed,
    backup_id: str,
    taken_at: float,
    complete_through: int,
    version: str | None,
    charm_revision: str,
    size: int,
    sha256: str,
) -> dict:
    """What list-backups shows and a restore is checked against, all from the snapshot
    file itself; `complete_through`: the admin server's last_zxid, every transaction up to
    which the snapshot holds (it may hold some later ones too: it is fuzzy)."""
    return {
        "id": backup_id,
        "time": datetime.datetime.fromtimestamp(taken_at, datetime.UTC).isoformat(),
        "zxid": hex(parsed.zxid),
        "complete-through": hex(complete_through),
        "zookeeper-version": version or "unknown",
        "znodes": len(parsed.compared),
        "ephemeral-znodes": parsed.ephemeral,
        "digest": parsed.digest,
        "snapshot-bytes": size,
        "snapshot-sha256": sha256,
        "charm-revision": charm_revision,
    }


def charm_revision(charm_dir: str | None = None) -> str:
    """The charm's URL with its revision, as the unit agent records it in the charm
    directory (`.juju-charm`); "unknown" where there is none (tests)."""
    directory = charm_dir or os.environ.get("JUJU_CHARM_DIR")
    if directory:
        path = pathlib.Path(directory) / ".juju-charm"
        if path.exists():
            return path.read_text().strip() or "unknown"
    return "unknown"


def expired(ids: list[str], retention: int) -> list[str]:
    """The backups beyond the newest `retention` ones (0: keep every backup)."""
    if retention <= 0:
        return []
    return sorted(ids)[:-retention]


def due(last: float | None, hours: int, now: float) -> bool:
    """A scheduled backup is due (hours 0: no schedule)."""
    return hours > 0 and (last is None or now - last >= hours * 3600)


def overdue(last: float | None, hours: int, now: float, error: str | None) -> str | None:
    """What the leader's status says of a scheduled backup that did not happen."""
    if hours <= 0:
        return None
    if error:
        return f"scheduled backup failed: {error}"
    if last is not None and now - last > hours * 3600 + OVERDUE_AFTER:
        ago = (now - last) / 3600
        return f"scheduled backup overdue: the last one was {ago:.1f} hours ago"
    return None


def take(
    snapshot: Callable[[object], int],
    upload: Callable[[str, object], None],
    put_manifest: Callable[[str, dict], None],
    now: float,
    version: str | None,
    revision: str,
) -> dict:
    """Stream a snapshot into a temporary file, read it, then upload it and its manifest.

    `snapshot(file) -> last_zxid` writes the admin server's snapshot; `upload(name, file)`
    and `put_manifest(name, manifest)` write under this backup's id.
    """
    backup_id = new_id(now)
    with tempfile.TemporaryFile() as spool:
        complete_through = snapshot(spool)
        size = spool.tell()
        spool.seek(0)
        hasher = hashlib.sha256()
        while chunk := spool.read(1 << 20):
            hasher.update(chunk)
        spool.seek(0)
        try:
            parsed = zksnap.parse(spool)
        except zksnap.SnapshotError as exc:
            raise BackupError(f"the snapshot ZooKeeper sent is unusable: {exc}") from exc
        spool.seek(0)
        record = manifest(
            parsed, backup_id, now, complete_through, version, revision, size, hasher.hexdigest()
        )
        upload(backup_id, spool)
    put_manifest(backup_id, record)
    return record


def differences(
    expected: zksnap.Parsed, live: Mapping[str, zksnap.Node], restored_at: int
) -> list[str]:
    """How the live tree differs from the snapshot it was restored from.

    `restored_at`: the snapshot's zxid. A node written since the restore has a later zxid
    in its stat (mzxid for its data, czxid for a new node, its parent's pzxid for a child
    gone): those are changes made after the restore, not differences. Every other node
    must be in the tree with the snapshot's data, ACL, version and zxids.
    """
    found = []
    wanted = {n.path: n for n in expected.compared}
    for path, node in sorted(wanted.items()):
        now = live.get(path)
        if now is None:
            parent = live.get(path.rsplit("/", 1)[0] or "/")
            if parent is None or parent.pzxid <= restored_at:
                found.append(f"{path} missing")
            continue
        if now.mzxid > restored_at:
            continue  # written since (an ACL set since shows as a difference: the charm
            # sets ACLs again only after this check)
        if now.data != node.data:
            found.append(f"{path} data differs")
        elif sorted(now.acl) != sorted(node.acl):
            found.append(f"{path} ACL differs")
        elif (now.czxid, now.mzxid, now.version) != (node.czxid, node.mzxid, node.version):
            found.append(f"{path} stat differs (czxid/mzxid/version)")
    for path, node in sorted(live.items()):
        if node.compared and path not in wanted and node.czxid <= restored_at:
            found.append(f"{path} not in the backup")
    return found


def summary(found: list[str]) -> str:
    shown = "; ".join(found[:SHOWN_DIFFERENCES])
    more = len(found) - SHOWN_DIFFERENCES
    return shown + (f"; and {more} more" if more > 0 else "")
