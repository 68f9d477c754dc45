"""What the server extension (extension/) enforces, rendered for the znode it reads.

The leader writes it, as the super user, to one znode closed to everyone else; ZooKeeper
replicates it, and each server's extension reads its own replica on every client request. So a
grant or a removal takes effect on a server as soon as that server has applied the write: no
file on each unit, no restart. The format is the extension's (zookeeperk8s/Policy.java).
"""

from __future__ import annotations

from collections.abc import Iterable

import clients

ROOT = clients.POLICY_ROOT
ZNODE = f"{ROOT}/policy"
HEADER = "zookeeper-k8s policy 1"
# zoo.cfg's serverCnxnFactory and the JVM property naming the znode above.
FACTORY = "org.apache.zookeeper.server.IsolatingCnxnFactory"
PROPERTY = "zookeeperk8s.policy"


def render(grants: Iterable[tuple[clients.Grant, str]], closing: Iterable[str] = ()) -> str:
    """One `user` and one `chroot` line per granted client (grant, password), sorted.

    `closing`: chroots being taken back this hook, listed with no owner, so no session but
    the super user's can touch them while their ACLs are reset (a removed client's session
    could otherwise create a znode there that the reset has already walked past).
    """
    users, chroots = [], []
    for grant, password in grants:
        _plain(grant.user, password, grant.chroot)
        owners = [acl for acl in clients.acls(grant, password) if acl.id != clients.SUPER_USER]
        users.append(f"user\t{grant.user}\t{password}")
        chroots.append(
            "\t".join(
                ["chroot", grant.chroot, grant.perms.replace("a", "")]
                + [f"{acl.scheme}:{acl.id}" for acl in owners]
            )
        )
    granted = {line.split("\t")[1] for line in chroots}
    for path in closing:
        _plain(path)
        if path not in granted:
            chroots.append(f"chroot\t{path}\t")
    return "\n".join([HEADER, *sorted(users), *sorted(chroots)]) + "\n"


def _plain(*fields: str) -> None:
    # Tabs and newlines separate records; ZooKeeper paths cannot hold them and generated
    # passwords do not, so this only guards against a future change that would.
    for field in fields:
        if any(c in field for c in "\t\n\r"):
            raise ValueError("a policy field holds a tab or a line break")
