"""Pure renderers: every file and the Pebble layer the workload runs with, from typed inputs."""

from __future__ import annotations

import shlex
from collections.abc import Mapping

import policy
from config import CharmConfig, ClientAuth
from layout import (
    ADMIN_PORT,
    BASH,
    CLIENT_PORT,
    METRICS_PORT,
    SECURE_CLIENT_PORT,
    SUPER_USER,
    TIMEOUT,
    Layout,
)
from records import Record, frozen
from state import TLSPhase

SERVICE = "zookeeper"
CHECK = "zookeeper-ready"
# The workload's own watcher: it wakes the charm with a custom notice when the server changes.
NOTIFY_SERVICE = "zookeeper-notify"
# The key of the custom notice it sends (Pebble wants `<domain>/<path>`); Juju turns each
# notice into a `zookeeper-pebble-custom-notice` hook whose event.notice.key is this.
NOTICE_KEY = "zookeeper-k8s.io/server"
# Where Juju mounts its own pebble binary in every workload container.
PEBBLE = "/charm/bin/pebble"
# What the notice's `state` says: the server answers srvr with a Mode line, answers without
# one, or nothing answers on the client port (no process, or not listening yet).
SERVING, NOT_SERVING, DOWN = "serving", "not-serving", "down"
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
SASL_PROVIDER = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
DIGEST_LOGIN = "org.apache.zookeeper.server.auth.DigestLoginModule"
PROMETHEUS_PROVIDER = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"

# ZooKeeper owns these keys once it runs: it rewrites dynamicConfigFile after every
# reconfig and moves client addresses into the dynamic file. A difference in them is
# ZooKeeper's doing, never drift the charm should correct.
ZOOKEEPER_OWNED_KEYS = ("dynamicConfigFile", "clientPort", "clientPortAddress", "peerType")


@frozen
class Credentials(Record):
    super_password: str
    # Quorum users every server accepts (more than one only during a rotation).
    quorum_accepted: Mapping[str, str]
    # The user and password this server logs in with when it is a learner.
    quorum_learner: tuple[str, str]


def zoo_cfg(
    config: CharmConfig,
    layout: Layout,
    address: str,
    dynamic_file: str,
    enforce_auth: bool = True,
    tls: TLSPhase = TLSPhase.OFF,
    data_dir: str | None = None,
) -> str:
    settings = {
        "tickTime": config.tick_time,
        "initLimit": config.init_limit,
        "syncLimit": config.sync_limit,
        "maxClientCnxns": config.max_client_connections,
        # A restore moves the ensemble to a new directory (restore.py); None: the first one.
        "dataDir": layout.storage / data_dir if data_dir else layout.data_dir,
        "dynamicConfigFile": dynamic_file,
        "reconfigEnabled": "true",
        # The charm's server extension (extension/): client isolation at request time and
        # client SASL users from the policy znode, without a restart.
        "serverCnxnFactory": policy.FACTORY,
        # Lets the ensemble shrink to one member and grow from one without a restart.
        "standaloneEnabled": "false",
        "autopurge.purgeInterval": config.autopurge_interval_hours,
        "autopurge.snapRetainCount": config.autopurge_snap_retain_count,
        "4lw.commands.whitelist": "ruok,srvr,mntr",
        "admin.enableServer": "true",
        "admin.serverAddress": layout.local_host(address),
        "admin.serverPort": ADMIN_PORT,
        "quorumListenOnAllIPs": str(not layout.per_unit_bind).lower(),
        # requireClientAuthScheme alone does not enforce on 3.8; enforce.auth does.
        "authProvider.sasl": SASL_PROVIDER,
        # Off only when the admin opted chroots in for clients that cannot authenticate:
        # then ACLs (root and every client chroot closed) and the extension keep them there.
        "enforce.auth.enabled": str(enforce_auth).lower(),
        "enforce.auth.schemes": "sasl,digest",
        "quorum.auth.enableSasl": "true",
        "quorum.auth.learnerRequireSasl": "true",
        "quorum.auth.serverRequireSasl": "true",
        "quorum.auth.learner.saslLoginContext": "QuorumLearner",
        "quorum.auth.server.saslLoginContext": "QuorumServer",
    }
    if layout.prometheus_metrics:
        # ZooKeeper hands every metricsProvider.* key, prefix cut, to the provider
        # (QuorumPeerConfig); the provider's defaults are host 0.0.0.0, port 7000, JVM on.
        settings |= {
            "metricsProvider.className": PROMETHEUS_PROVIDER,
            "metricsProvider.httpHost": layout.metrics_host(address),
            "metricsProvider.httpPort": METRICS_PORT,
            "metricsProvider.exportJvmInfo": "true",
        }
    settings |= tls_settings(config, layout, address, tls)
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def tls_settings(
    config: CharmConfig, layout: Layout, address: str, phase: TLSPhase
) -> dict[str, object]:
    """zoo.cfg's TLS keys for a step of the switch (tlsplan.py); none while TLS is off.

    The same PEM stores serve clients and the quorum. Hostname verification stays on
    between members (each certificate names its pod); a client certificate names an app,
    not the host it connects from, so it is checked against the CA only.
    """
    if phase is TLSPhase.OFF:
        return {}
    protocols = config.tls_protocol_list
    stores = {
        "keyStore.location": layout.keystore,
        "keyStore.type": "PEM",
        "trustStore.location": layout.truststore,
        "trustStore.type": "PEM",
        # The context's protocol is the newest allowed; enabledProtocols what it accepts.
        "protocol": "TLSv1.3" if "TLSv1.3" in protocols else "TLSv1.2",
        "enabledProtocols": ",".join(protocols),
    }
    settings: dict[str, object] = {"secureClientPort": SECURE_CLIENT_PORT}
    if layout.per_unit_bind:
        settings["secureClientPortAddress"] = address
    settings |= {f"ssl.{key}": value for key, value in stores.items()}
    settings |= {
        "ssl.clientAuth": config.tls_client_auth,
        "ssl.clientHostnameVerification": "false",
        "ssl.hostnameVerification": "true",
        # A renewed certificate (or a new CA beside the old) is read without a restart.
        "client.certReload": "true",
    }
    if config.tls_client_auth is not ClientAuth.NONE:
        # A session that presents a certificate is authenticated by it (ZooKeeper registers
        # the x509 provider with secureClientPort, not before: never name it while TLS is off).
        settings["enforce.auth.schemes"] = "sasl,digest,x509"
    settings |= {f"ssl.quorum.{key}": value for key, value in stores.items()}
    settings |= {
        "ssl.quorum.clientAuth": "need",
        "ssl.quorum.hostnameVerification": "true",
        "sslQuorumReloadCertFiles": "true",
        "sslQuorum": str(phase in (TLSPhase.QUORUM, TLSPhase.ON)).lower(),
        "portUnification": str(phase in (TLSPhase.UNIFIED, TLSPhase.QUORUM)).lower(),
    }
    return settings


def parse_properties(text: str) -> dict[str, str]:
    props = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        props[key.strip()] = value.strip()
    return props


def static_settings(zoo_cfg_text: str) -> dict[str, str]:
    """The settings the charm owns, so ZooKeeper's own rewrite compares equal."""
    return {
        key: value
        for key, value in parse_properties(zoo_cfg_text).items()
        if key not in ZOOKEEPER_OWNED_KEYS and not key.startswith("server.")
    }


def jaas(creds: Credentials) -> str:
    def section(name: str, options: dict[str, str]) -> str:
        lines = "\n".join(f'    {key}="{value}"' for key, value in options.items())
        return f"{name} {{\n    {DIGEST_LOGIN} required\n{lines};\n}};\n"

    # Only the super user: client users come from the policy znode (policy.py), so a new
    # client changes no file and restarts nothing.
    learner, learner_password = creds.quorum_learner
    return (
        section("Server", {f"user_{SUPER_USER}": creds.super_password})
        + section(
            "QuorumServer", {f"user_{n}": pw for n, pw in sorted(creds.quorum_accepted.items())}
        )
        + section("QuorumLearner", {"username": learner, "password": learner_password})
    )


def log_config(layout: Layout, level: str) -> str:
    # Everything goes to stdout: Pebble keeps it and forwards it to Loki.
    if layout.logging == "logback":
        return (
            # scan: a new log level applies within seconds, without a restart.
            '<configuration scan="true" scanPeriod="10 seconds">\n'
            '  <appender name="CONSOLE" class="ch.qos.logback.core.ConsoleAppender">\n'
            "    <encoder><pattern>%d{ISO8601} [myid:%X{myid}] %-5level [%t] %logger{1}: "
            "%msg%n</pattern></encoder>\n"
            "  </appender>\n"
            f'  <root level="{level}"><appender-ref ref="CONSOLE"/></root>\n'
            "</configuration>\n"
        )
    return (
        f"log4j.rootLogger={level}, CONSOLE\n"
        "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1}: %m%n\n"
    )


def jvm_flags(config: CharmConfig, layout: Layout, backup_digest: str | None = None) -> list[str]:
    log_flag = (
        f"-Dlogback.configurationFile={layout.log_config}"
        if layout.logging == "logback"
        else f"-Dlog4j.configuration=file:{layout.log_config}"
    )
    return [
        f"-Xmx{config.jvm_heap_mb}m",
        # A fixed heap: ZooKeeper keeps its whole tree in memory, resizing only adds pauses.
        f"-Xms{config.jvm_heap_mb}m",
        "-XX:+ExitOnOutOfMemoryError",
        f"-Djava.security.auth.login.config={layout.jaas}",
        f"-Dzookeeper.superUser={SUPER_USER}",
        # Hard quotas (the per-client limits the charm sets) refuse writes beyond them.
        "-Dzookeeper.enforceQuota=true",
        f"-D{policy.PROPERTY}={policy.ZNODE}",
        log_flag,
        # The digest super user the admin server's snapshot command is asked as (backups:
        # it takes no SASL). A SHA-1 digest of a random 32-character password, not the
        # password: the command line shows it.
        *(
            [f"-Dzookeeper.DigestAuthenticationProvider.superDigest={backup_digest}"]
            if backup_digest
            else []
        ),
        *layout.extra_jvm_flags,
    ]


def command(config: CharmConfig, layout: Layout, backup_digest: str | None = None) -> str:
    flags = jvm_flags(config, layout, backup_digest)
    argv = [layout.java, *flags, "-cp", layout.classpath, MAIN_CLASS]
    return shlex.join([*argv, str(layout.zoo_cfg)])


def pebble_layer(
    config: CharmConfig,
    layout: Layout,
    address: str | None = None,
    backup_digest: str | None = None,
) -> dict:
    """The workload's layer; `address` is the unit's own (what zoo_cfg gets), for the check;
    `backup_digest`: the backup identity's (admin.super_digest)."""
    service = {
        "override": "replace",
        "summary": "Apache ZooKeeper server",
        "command": command(config, layout, backup_digest),
        "startup": "enabled",
    }
    if layout.user:
        service |= {"user": layout.user, "group": layout.group}
    return {
        "summary": "zookeeper",
        "services": {SERVICE: service, NOTIFY_SERVICE: notify_service(layout, address)},
        "checks": {
            CHECK: {
                "override": "replace",
                # Juju maps `ready` to the pod's readiness probe: a failing check takes the pod
                # out of its Service's endpoints, it never has Kubernetes kill the container
                # (only `alive` checks feed the liveness probe), so a slow start is safe.
                "level": "ready",
                # Down after about 15 s of not serving, up again within 5 s of serving: Juju
                # then runs pebble-check-failed / pebble-check-recovered. An election (a second
                # or two) fails at most one run. Pebble wants the timeout below the period.
                "period": CHECK_PERIOD,
                "timeout": CHECK_PEBBLE_TIMEOUT,
                "threshold": CHECK_THRESHOLD,
                "exec": health_check(layout, address),
            }
        },
    }


CHECK_PERIOD = "5s"
CHECK_PEBBLE_TIMEOUT = "4s"
CHECK_THRESHOLD = 3
# Seconds between two looks of the watcher at its server.
NOTIFY_POLL_SECONDS = 1
# A server that does not serve is reported again this often, so that what waits on it (a
# restart's timeout, a joiner's sync) is looked at again without a timer in the charm.
NOTIFY_REMIND_SECONDS = 30
# Bash builtins only, like SRVR_PROBE, and no process at all while nothing changes: the
# watcher asks srvr every NOTIFY_POLL_SECONDS (a read with a timeout on a pipe nobody writes
# to is its sleep; the pipe is made once) and runs `pebble notify` only when what it saw
# differs from what it last reported, so each notice means a change. $1 and $2 are the host
# and port, $3 the pebble binary, $4 the notice key, $5 the poll period. A reply read with a
# timeout: a server that accepts and never answers counts as not serving. A failed notify
# (Pebble busy) is retried at the next look. One line without single quotes.
NOTIFY_LOOP = "; ".join(
    (
        "exec 4<> <(:)",
        "last= sent=0",
        "while :; do state=down mode=none",
        '{ exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null && { state=not-serving; printf srvr >&3; '
        "while read -r -t 5 line <&3 || [[ -n $line ]]; do [[ $line == Mode:* ]] "
        "&& { state=serving; mode=${line#Mode: }; }; line=; done; exec 3<&-; }",
        '{ [[ $state/$mode != "$last" ]] || { [[ $state != serving ]] '
        '&& (( SECONDS - sent >= $6 )); }; } && "$3" notify "$4" state=$state mode=$mode '
        "&& last=$state/$mode && sent=$SECONDS",
        'read -r -t "$5" -u 4',
        "done",
    )
)


def notify_service(layout: Layout, address: str | None = None) -> dict:
    """The watcher that wakes the charm: a custom notice whenever its server starts or stops
    serving, changes mode (leader, follower, observer, standalone) or goes away.

    A Pebble service beside the server: Pebble restarts it if it ever exits, and the charm
    needs no timer of its own. It runs as root, unlike the server: Pebble records a notice
    under the uid of whoever ran `pebble notify`, and Juju only turns public (root's)
    notices into hooks (canonical/operator#2639), so a watcher running as the rock's user
    would never wake the charm. It runs bash builtins and `pebble notify`, nothing else,
    and asks where the health check asks.
    """
    if address is None and layout.per_unit_bind:
        raise ValueError("a layout that binds per unit needs the unit's address for its watcher")
    host = layout.local_host(address or "")
    argv = [BASH, "-c", NOTIFY_LOOP, NOTIFY_SERVICE, host, str(CLIENT_PORT), PEBBLE, NOTICE_KEY]
    service: dict = {
        "override": "replace",
        "summary": "tells the charm when its ZooKeeper server changes state",
        "command": shlex.join([*argv, str(NOTIFY_POLL_SECONDS), str(NOTIFY_REMIND_SECONDS)]),
        "startup": "enabled",
    }
    return service


# Seconds one check may take, connect included: a hung server whose accept queue is full
# leaves connect() retrying for minutes. Inside the layer's own timeout (CHECK_PEBBLE_TIMEOUT).
CHECK_TIMEOUT_SECONDS = 3
# Bash builtins only (its /dev/tcp redirection, printf, read): the check starts no process
# but bash itself. $1 and $2 are the host and port. The reply is read to its end, which
# ZooKeeper marks by closing the connection after a four-letter word; it serves only if one
# line is `Mode: ...`; mode and reply start empty, as Pebble hands the check its own
# environment. One line without single quotes, so `pebble plan` shows it plainly.
SRVR_PROBE = "; ".join(
    (
        '{ exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null '
        '|| { echo "nothing answers on $1:$2"; exit 1; }',
        "mode= reply=",
        "printf srvr >&3",
        "while read -r line <&3 || [[ -n $line ]]; do [[ $line == Mode:* ]] && mode=$line; "
        'reply+=" $line"; done',
        "[[ -n $mode ]] && exit 0",
        'echo "not serving on $1:$2:${reply:- no answer}"',
        "exit 1",
    )
)


def health_check(layout: Layout, address: str | None = None) -> dict:
    """An exec check that fails unless the server is serving clients.

    The admin server answers /commands/ruok with HTTP 200 even while the server is not
    serving (3.8 and 3.9 alike; the error is only in the JSON body), so an HTTP check would
    pass on a member that lost quorum. `srvr` on the client port answers with a `Mode:` line
    only while the server serves ("This ZooKeeper instance is not currently serving
    requests" otherwise); the check asks it with bash's /dev/tcp, at the address the charm
    reaches its own server at, and starts no JVM (zkServer.sh status started one per run).

    `address` is the unit's own address; only a layout that binds per unit needs it, the
    Kubernetes one reaches its server on 127.0.0.1 whatever it is.
    """
    if address is None and layout.per_unit_bind:
        raise ValueError("a layout that binds per unit needs the unit's address for its check")
    host = layout.local_host(address or "")
    argv = [TIMEOUT, str(CHECK_TIMEOUT_SECONDS), BASH, "-c", SRVR_PROBE, CHECK, host]
    check: dict = {"command": shlex.join([*argv, str(CLIENT_PORT)])}
    if layout.user:
        check |= {"user": layout.user, "group": layout.group}
    return check


def myid_file(myid: int) -> str:
    return f"{myid}\n"
