"""What the charm writes for ZooKeeper: zoo.cfg, jaas.conf, the log config and the Pebble layer."""

import dataclasses
import json
import re
import shlex
import xml.etree.ElementTree as ET

import pytest

import policy
import render
from config import parse
from layout import K8S, Layout

ADDRESS = "zookeeper-k8s-0.zookeeper-k8s-endpoints.prod.svc.cluster.local"
DYNAMIC = "/var/lib/zookeeper/conf/zoo.cfg.dynamic"
SUPER_PW = "Sup3rSecretPassw0rdXXXXXXXXXXXXX"
SYNC_PW = "Sync5ecretPassw0rdYYYYYYYYYYYYYY"
LOG4J = dataclasses.replace(K8S, logging="log4j")


def creds(accepted=None):
    """This server's credentials (accepted: the quorum users, more than one in a rotation)."""
    return render.Credentials(SUPER_PW, accepted or {"sync0": SYNC_PW}, ("sync0", SYNC_PW))


def zoo_cfg(layout: Layout = K8S, dynamic_file: str = DYNAMIC, **options) -> dict[str, str]:
    text = render.zoo_cfg(parse(options), layout, ADDRESS, dynamic_file)
    return render.parse_properties(text)


def zoo_cfg_text(**options) -> str:
    return render.zoo_cfg(parse(options), K8S, ADDRESS, DYNAMIC)


# -- zoo.cfg --------------------------------------------------------------------------------


def test_zoo_cfg_enables_dynamic_reconfiguration_from_the_given_file():
    cfg = zoo_cfg(dynamic_file="/var/lib/zookeeper/conf/zoo.cfg.dynamic.200000003")
    assert cfg["reconfigEnabled"] == "true"
    assert cfg["standaloneEnabled"] == "false"
    assert cfg["dynamicConfigFile"] == "/var/lib/zookeeper/conf/zoo.cfg.dynamic.200000003"


def test_zoo_cfg_leaves_membership_to_the_dynamic_file():
    cfg = zoo_cfg()
    assert not [key for key in cfg if key.startswith("server.")]
    assert "clientPort" not in cfg


def test_zoo_cfg_keys_are_unique():
    keys = [line.partition("=")[0] for line in zoo_cfg_text().splitlines()]
    assert len(keys) == len(set(keys))


def test_zoo_cfg_allows_exactly_three_four_letter_words():
    assert zoo_cfg()["4lw.commands.whitelist"] == "ruok,srvr,mntr"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"tickTime": "2000", "initLimit": "10", "syncLimit": "5", "maxClientCnxns": "60"}),
        (
            {"tick-time": 3000, "init-limit": 20, "sync-limit": 7, "max-client-connections": 0},
            {"tickTime": "3000", "initLimit": "20", "syncLimit": "7", "maxClientCnxns": "0"},
        ),
    ],
)
def test_zoo_cfg_timing_and_connections_come_from_config(options, expected):
    cfg = zoo_cfg(**options)
    assert {key: cfg[key] for key in expected} == expected


@pytest.mark.parametrize(("hours", "retain"), [(24, 3), (1, 100), (720, 7)])
def test_zoo_cfg_autopurge_comes_from_config(hours, retain):
    cfg = zoo_cfg(**{"autopurge-interval-hours": hours, "autopurge-snap-retain-count": retain})
    assert cfg["autopurge.purgeInterval"] == str(hours)
    assert cfg["autopurge.snapRetainCount"] == str(retain)


def test_zoo_cfg_data_dir_is_on_the_storage():
    assert zoo_cfg()["dataDir"] == "/var/lib/zookeeper/data"


def test_zoo_cfg_admin_server_listens_on_loopback_only():
    cfg = zoo_cfg()
    assert cfg["admin.enableServer"] == "true"
    assert cfg["admin.serverAddress"] == "127.0.0.1"
    assert cfg["admin.serverPort"] == "8080"


def test_zoo_cfg_enforces_client_authentication():
    cfg = zoo_cfg()
    assert cfg["enforce.auth.enabled"] == "true"
    assert cfg["enforce.auth.schemes"] == "sasl,digest"
    assert cfg["authProvider.sasl"] == (
        "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
    )


def test_zoo_cfg_requires_quorum_sasl_both_ways():
    cfg = zoo_cfg()
    assert cfg["quorum.auth.enableSasl"] == "true"
    assert cfg["quorum.auth.learnerRequireSasl"] == "true"
    assert cfg["quorum.auth.serverRequireSasl"] == "true"
    assert cfg["quorum.auth.learner.saslLoginContext"] == "QuorumLearner"
    assert cfg["quorum.auth.server.saslLoginContext"] == "QuorumServer"


def test_zoo_cfg_login_contexts_exist_in_jaas():
    cfg = zoo_cfg()
    sections = jaas_sections(render.jaas(creds()))
    assert cfg["quorum.auth.learner.saslLoginContext"] in sections
    assert cfg["quorum.auth.server.saslLoginContext"] in sections


def test_zoo_cfg_runs_client_connections_through_the_isolating_extension():
    assert zoo_cfg()["serverCnxnFactory"] == "org.apache.zookeeper.server.IsolatingCnxnFactory"
    assert zoo_cfg()["serverCnxnFactory"] == policy.FACTORY


def test_zoo_cfg_exposes_prometheus_metrics_on_k8s():
    cfg = zoo_cfg()
    assert cfg["metricsProvider.className"] == (
        "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
    )
    assert cfg["metricsProvider.httpPort"] == "7000"
    # On every pod address (Prometheus scrapes the pod's), with the JVM's own metrics.
    assert cfg["metricsProvider.httpHost"] == "0.0.0.0"
    assert cfg["metricsProvider.exportJvmInfo"] == "true"


def test_zoo_cfg_on_a_layout_that_binds_per_unit_serves_metrics_on_the_units_address():
    cfg = zoo_cfg(dataclasses.replace(K8S, per_unit_bind=True))
    assert cfg["metricsProvider.httpHost"] == ADDRESS


def test_zoo_cfg_without_prometheus_classes_names_no_provider():
    cfg = zoo_cfg(dataclasses.replace(K8S, prometheus_metrics=False))
    assert not [key for key in cfg if key.startswith("metricsProvider")]


def test_zoo_cfg_on_k8s_listens_for_quorum_on_all_pod_ips():
    assert zoo_cfg()["quorumListenOnAllIPs"] == "true"


def test_zoo_cfg_on_loopback_binds_admin_and_quorum_to_the_unit_address():
    loopback = dataclasses.replace(K8S, per_unit_bind=True)
    cfg = zoo_cfg(loopback)
    assert cfg["admin.serverAddress"] == ADDRESS
    assert cfg["quorumListenOnAllIPs"] == "false"


# -- ZooKeeper's own rewrite of zoo.cfg ------------------------------------------------------


def test_zookeepers_rewrite_has_the_same_static_settings(zookeeper_rewrites):
    ours = zoo_cfg_text()
    theirs = zookeeper_rewrites(ours, "/var/lib/zookeeper/conf/zoo.cfg.dynamic.100000000")
    assert theirs != ours
    assert render.static_settings(theirs) == render.static_settings(ours)


@pytest.mark.parametrize(
    "zookeepers_lines",
    [
        "clientPort=2181\n",
        "clientPortAddress=0.0.0.0\n",
        "server.1=zk-0:2888:3888:participant;0.0.0.0:2181\n",
        "peerType=observer\n",
        "\n  # a comment\n\n",
    ],
)
def test_keys_zookeeper_owns_do_not_count(zookeepers_lines):
    ours = zoo_cfg_text()
    assert render.static_settings(ours + zookeepers_lines) == render.static_settings(ours)


def test_a_dynamic_file_of_another_version_does_not_count():
    assert render.static_settings(
        zoo_cfg_text().replace(DYNAMIC, DYNAMIC + ".500000002")
    ) == render.static_settings(zoo_cfg_text())


@pytest.mark.parametrize(
    "options",
    [
        {"tick-time": 3000},
        {"sync-limit": 6},
        {"max-client-connections": 100},
        {"autopurge-snap-retain-count": 4},
    ],
)
def test_a_changed_setting_counts_even_after_zookeepers_rewrite(zookeeper_rewrites, options):
    on_disk = zookeeper_rewrites(zoo_cfg_text(), DYNAMIC + ".100000000")
    assert render.static_settings(on_disk) != render.static_settings(zoo_cfg_text(**options))


def test_a_setting_removed_from_the_file_counts():
    ours = zoo_cfg_text()
    edited = "".join(line + "\n" for line in ours.splitlines() if "enforce.auth" not in line)
    assert render.static_settings(edited) != render.static_settings(ours)


# -- jaas.conf -------------------------------------------------------------------------------


def jaas_sections(text: str) -> dict[str, str]:
    """Section name -> body of a JAAS file: `Name { ... };`."""
    sections = dict(re.findall(r"(\w+)\s*\{(.*?)\};", text, flags=re.DOTALL))
    assert sum(1 for _ in re.finditer(r"\{", text)) == len(sections), "unparsed section"
    return sections


def entries(body: str) -> dict[str, str]:
    return dict(re.findall(r'([\w.-]+)="([^"]*)"', body))


def test_jaas_server_section_holds_the_super_user():
    server = jaas_sections(render.jaas(creds()))["Server"]
    assert "org.apache.zookeeper.server.auth.DigestLoginModule required" in server
    assert entries(server) == {"user_super": SUPER_PW}


def test_jaas_quorum_sections_hold_the_sync_user():
    sections = jaas_sections(render.jaas(creds()))
    assert entries(sections["QuorumServer"]) == {"user_sync0": SYNC_PW}
    assert entries(sections["QuorumLearner"]) == {"username": "sync0", "password": SYNC_PW}
    for name in ("QuorumServer", "QuorumLearner"):
        assert "org.apache.zookeeper.server.auth.DigestLoginModule required" in sections[name]


def test_jaas_has_only_the_three_sections_and_no_password_elsewhere():
    text = render.jaas(creds())
    assert set(jaas_sections(text)) == {"Server", "QuorumServer", "QuorumLearner"}
    assert text.count(SUPER_PW) == 1
    assert text.count(SYNC_PW) == 2


def test_jaas_holds_no_client_users_they_come_from_the_policy_znode():
    # Client users are in the extension's policy (policy.py), which the leader writes to
    # ZooKeeper: a client relation changes no server's files and restarts nothing.
    assert "users" not in {field.name for field in dataclasses.fields(render.Credentials)}
    text = render.jaas(creds({"sync0": SYNC_PW, "sync1": "Sync1"}))
    assert entries(jaas_sections(text)["Server"]) == {"user_super": SUPER_PW}
    assert "relation-" not in text


def test_jaas_every_section_ends_its_options_with_one_semicolon():
    text = render.jaas(creds({"sync0": SYNC_PW, "sync1": "Sync1"}))
    for name, body in jaas_sections(text).items():
        assert body.rstrip().endswith(";"), name
        assert body.count(";") == 1, name


# -- Pebble layer ----------------------------------------------------------------------------


def layer(layout: Layout = K8S, **options) -> dict:
    return render.pebble_layer(parse(options), layout)


def argv(layout: Layout = K8S, **options) -> list[str]:
    return shlex.split(layer(layout, **options)["services"]["zookeeper"]["command"])


def test_layer_runs_zookeeper_as_its_own_user():
    service = layer()["services"]["zookeeper"]
    assert service["user"] == "zookeeper"
    assert service["group"] == "zookeeper"
    assert service["startup"] == "enabled"
    assert service["override"] == "replace"


def test_command_is_the_jvm_running_quorum_peer_main_on_zoo_cfg():
    command = argv()
    assert command[0] == "/usr/lib/jvm/java-21-openjdk-amd64/bin/java"
    assert command[-2:] == [
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        "/var/lib/zookeeper/conf/zoo.cfg",
    ]
    # Java expands the classpath wildcard itself: it must reach it unexpanded.
    assert command[command.index("-cp") + 1] == "/opt/zookeeper/lib/*"


@pytest.mark.parametrize("heap", [128, 1024, 3000, 65536])
def test_command_sets_the_heap_from_config(heap):
    command = argv(**{"jvm-heap-mb": heap})
    assert f"-Xmx{heap}m" in command
    assert [flag for flag in command if flag.startswith("-Xmx")] == [f"-Xmx{heap}m"]


def test_command_sets_the_initial_heap_too_as_config_yaml_promises():
    assert "-Xms2048m" in argv(**{"jvm-heap-mb": 2048})


def test_command_points_java_at_the_jaas_file_and_super_user():
    command = argv()
    assert "-Djava.security.auth.login.config=/var/lib/zookeeper/conf/jaas.conf" in command
    assert "-Dzookeeper.superUser=super" in command


def test_command_points_the_extension_at_the_policy_znode():
    command = argv()
    assert "-Dzookeeperk8s.policy=/zookeeper-k8s/policy" in command
    assert f"-D{policy.PROPERTY}={policy.ZNODE}" in command
    # Before the main class: a JVM property, not an argument to QuorumPeerMain.
    assert command.index(f"-D{policy.PROPERTY}={policy.ZNODE}") < command.index(render.MAIN_CLASS)


def test_the_layer_runs_zookeeper_and_its_watcher_only():
    # The isolation guard is gone: the extension inside ZooKeeper enforces isolation. The
    # watcher beside the server is what wakes the charm.
    assert list(layer()["services"]) == ["zookeeper", "zookeeper-notify"]


def test_layer_carries_no_password():
    text = json.dumps(layer()).lower()
    assert "password" not in text
    assert "superdigest" not in text
    assert "environment" not in layer()["services"]["zookeeper"]


def check_argv(layout: Layout = K8S, address: str | None = None) -> list[str]:
    return shlex.split(render.health_check(layout, address)["command"])


def test_health_check_asks_srvr_of_its_own_server_with_bash_not_http():
    checks = layer()["checks"]
    assert list(checks) == ["zookeeper-ready"]
    check = checks["zookeeper-ready"]
    assert check["level"] == "ready"
    assert "http" not in check
    assert "tcp" not in check
    # coreutils' timeout around bash: all the rock's base needs to have.
    assert shlex.split(check["exec"]["command"]) == [
        "/usr/bin/timeout",
        "3",
        "/bin/bash",
        "-c",
        render.SRVR_PROBE,
        "zookeeper-ready",  # $0
        "127.0.0.1",  # $1: where the charm reaches its own server on Kubernetes
        "2181",  # $2: the client port, where four-letter words are answered
    ]
    assert check["exec"]["user"] == "zookeeper"
    assert check["exec"]["group"] == "zookeeper"
    # Nothing to configure: no JAVA_HOME, no log directory for a script to create.
    assert "environment" not in check["exec"]


def test_health_check_starts_no_jvm():
    command = layer()["checks"]["zookeeper-ready"]["exec"]["command"]
    for jvm in ("java", "zkServer", "zkCli", "/opt/zookeeper", "/usr/lib/jvm"):
        assert jvm not in command
    # Only bash builtins: what bash runs is the probe, and the probe names no program.
    probe = render.SRVR_PROBE
    assert "/dev/tcp/$1/$2" in probe
    words = {word for statement in re.split(r"[;{}|&]+", probe) for word in statement.split()}
    assert not {word for word in words if word.startswith("/") and word != "/dev/null"}
    assert not {"nc", "python3", "curl", "cat", "grep", "timeout"} & words


def test_health_check_asks_a_word_zoo_cfg_allows_and_requires_a_mode_line():
    probe = render.SRVR_PROBE
    assert "printf srvr >&3" in probe
    assert "srvr" in zoo_cfg()["4lw.commands.whitelist"].split(",")
    # A server that does not serve answers srvr without a Mode line; the probe needs one.
    assert "[[ $line == Mode:* ]] && mode=$line" in probe
    assert "[[ -n $mode ]] && exit 0" in probe
    assert probe.endswith("exit 1")
    # The environment Pebble passes cannot preset the answer.
    assert probe.index("mode= reply=") < probe.index("printf srvr")


def test_health_check_is_one_plain_line():
    # Shown by `pebble plan` and parsed by Pebble's shlex: no newline, no nested quotes.
    assert "\n" not in render.SRVR_PROBE
    assert "'" not in render.SRVR_PROBE


def seconds(duration: str) -> float:
    return float(duration.removesuffix("s"))


def test_health_check_gives_up_before_pebble_does():
    check = layer()["checks"]["zookeeper-ready"]
    assert check["timeout"] == "4s"
    assert check_argv()[:2] == ["/usr/bin/timeout", "3"]
    assert seconds(check["timeout"]) > render.CHECK_TIMEOUT_SECONDS
    # Pebble refuses a check whose timeout is not below its period.
    assert seconds(check["timeout"]) < seconds(check["period"])


def test_health_check_fails_and_recovers_within_seconds_but_rides_out_an_election():
    check = layer()["checks"]["zookeeper-ready"]
    # Juju runs pebble-check-failed after `threshold` failures in a row, -recovered after
    # the first success: about 15 s down, at most 5 s to come back.
    assert (check["period"], check["threshold"]) == ("5s", 3)
    assert seconds(check["period"]) * check["threshold"] <= 15
    # An election takes a second or two: it fails one run, never three.
    assert seconds(check["period"]) * (check["threshold"] - 1) >= 10


def test_health_check_never_feeds_the_liveness_probe():
    # Juju maps `alive` checks to the pod's liveness probe (Kubernetes kills the container)
    # and `ready` to its readiness probe: a slow-starting server must only be unready.
    assert {c["level"] for c in layer()["checks"].values()} == {"ready"}


def test_health_check_on_k8s_reaches_the_server_on_loopback_whatever_the_address():
    assert check_argv(K8S, ADDRESS)[-2:] == ["127.0.0.1", "2181"]
    assert check_argv(K8S)[-2:] == ["127.0.0.1", "2181"]


def test_health_check_on_a_per_unit_bind_layout_reaches_the_units_own_address():
    loopback = dataclasses.replace(K8S, per_unit_bind=True)
    layer_check = render.pebble_layer(parse({}), loopback, "127.0.0.3")["checks"]
    assert shlex.split(layer_check["zookeeper-ready"]["exec"]["command"])[-2:] == [
        "127.0.0.3",
        "2181",
    ]
    # The same host the charm's own admin sessions use, and the admin server binds to.
    assert check_argv(loopback, ADDRESS)[-2] == loopback.local_host(ADDRESS)
    assert check_argv(loopback, ADDRESS)[-2] == zoo_cfg(loopback)["admin.serverAddress"]
    with pytest.raises(ValueError, match="address"):
        render.health_check(loopback)


def test_layer_without_a_user_runs_as_pebbles_default():
    rootless = dataclasses.replace(K8S, user=None, group=None)
    assert "user" not in layer(rootless)["services"]["zookeeper"]
    assert "user" not in layer(rootless)["services"]["zookeeper-notify"]
    assert "user" not in layer(rootless)["checks"]["zookeeper-ready"]["exec"]


# -- the watcher that wakes the charm --------------------------------------------------------


def watcher(layout: Layout = K8S, address: str | None = None) -> dict:
    return render.pebble_layer(parse({}), layout, address)["services"]["zookeeper-notify"]


def test_watcher_runs_beside_the_server_from_the_start_as_root_whose_notices_juju_sees():
    service = watcher()
    assert service["override"] == "replace"
    assert service["startup"] == "enabled"
    # Juju wakes the charm only for public notices, those root records: no user, no group
    # (the server itself stays the rock's user).
    assert not {"user", "user-id", "group", "group-id"} & set(service)
    assert layer()["services"]["zookeeper"]["user"] == "zookeeper"
    # Pebble's default on an exit (restart with back-off) is what it needs: nothing to set.
    assert not {"on-success", "on-failure", "environment"} & set(service)


def test_watcher_is_bash_asking_its_own_server_and_notifying_through_jujus_pebble():
    assert shlex.split(watcher()["command"]) == [
        "/bin/bash",
        "-c",
        render.NOTIFY_LOOP,
        "zookeeper-notify",  # $0
        "127.0.0.1",  # $1: where the check asks, on Kubernetes
        "2181",  # $2: the client port
        "/charm/bin/pebble",  # $3: Juju mounts its pebble here in every workload container
        "zookeeper-k8s.io/server",  # $4: the notice key
        "1",  # $5: seconds between two looks
        "30",  # $6: seconds between two reminders that it does not serve
    ]
    assert render.PEBBLE == "/charm/bin/pebble"


def test_watcher_notice_key_is_one_constant_in_pebbles_domain_slash_path_form():
    assert render.NOTICE_KEY == "zookeeper-k8s.io/server"
    domain, _, path = render.NOTICE_KEY.partition("/")
    assert "." in domain and path
    assert render.NOTICE_KEY in shlex.split(watcher()["command"])


def test_watcher_uses_bash_builtins_only_and_runs_nothing_but_notify():
    loop = render.NOTIFY_LOOP
    assert "/dev/tcp/$1/$2" in loop
    words = {word for statement in re.split(r"[;{}|&()<>]+", loop) for word in statement.split()}
    assert not {word for word in words if word.startswith("/") and word != "/dev/null"}
    assert not {"sleep", "nc", "python3", "curl", "cat", "grep", "timeout", "date"} & words
    # The one program it runs is $3, Juju's pebble, and only to notify.
    assert loop.count('"$3"') == 1
    assert '"$3" notify "$4" state=$state mode=$mode' in loop
    # Its sleep is a read with a timeout on a pipe it made once and nobody writes to.
    assert loop.startswith("exec 4<> <(:)")
    assert 'read -r -t "$5" -u 4' in loop


def test_watcher_notifies_only_on_a_change_it_saw():
    loop = render.NOTIFY_LOOP
    # Each look starts from nothing known: the environment cannot preset what it saw.
    assert loop.index("state=down mode=none") < loop.index("printf srvr")
    assert "{ state=serving; mode=${line#Mode: }; }" in loop
    assert "state=not-serving" in loop
    # A notice when the state or mode differs from the last one reported (what a successful
    # notify said), or, while it does not serve, when the last one is $6 seconds old.
    assert (
        '{ [[ $state/$mode != "$last" ]] || { [[ $state != serving ]] '
        '&& (( SECONDS - sent >= $6 )); }; } && "$3" notify'
    ) in loop
    assert loop.endswith('&& last=$state/$mode && sent=$SECONDS; read -r -t "$5" -u 4; done')
    assert (render.SERVING, render.NOT_SERVING, render.DOWN) == ("serving", "not-serving", "down")


def test_watcher_reads_with_a_timeout_so_a_silent_server_cannot_stall_it():
    assert "read -r -t 5 line <&3" in render.NOTIFY_LOOP


def test_watcher_is_one_plain_line():
    assert "\n" not in render.NOTIFY_LOOP
    assert "'" not in render.NOTIFY_LOOP


def test_watcher_on_a_per_unit_bind_layout_asks_the_units_own_address():
    loopback = dataclasses.replace(K8S, per_unit_bind=True)
    assert shlex.split(watcher(loopback, "127.0.0.3")["command"])[4:6] == ["127.0.0.3", "2181"]
    with pytest.raises(ValueError, match="address"):
        render.notify_service(loopback)


# -- log config ------------------------------------------------------------------------------


def logback(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 (our own rendered text, not untrusted input)


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARN", "ERROR"])
def test_logback_root_level_is_the_configured_one(level):
    root = logback(render.log_config(K8S, parse({"log-level": level}).log_level))
    assert root.tag == "configuration"
    assert root.find("root").get("level") == level
    assert root.find("root/appender-ref").get("ref") == "CONSOLE"
    appender = root.find("appender[@name='CONSOLE']")
    assert appender.get("class") == "ch.qos.logback.core.ConsoleAppender"


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARN", "ERROR"])
def test_log4j_root_level_is_the_configured_one(level):
    text = render.log_config(LOG4J, parse({"log-level": level}).log_level)
    props = render.parse_properties(text)
    assert props["log4j.rootLogger"] == f"{level}, CONSOLE"
    assert props["log4j.appender.CONSOLE"] == "org.apache.log4j.ConsoleAppender"


def test_lowercase_log_level_is_written_in_capitals():
    text = render.log_config(K8S, parse({"log-level": "debug"}).log_level)
    assert logback(text).find("root").get("level") == "DEBUG"


@pytest.mark.parametrize(
    ("layout", "flag"),
    [
        (K8S, "-Dlogback.configurationFile=/var/lib/zookeeper/conf/logback.xml"),
        (LOG4J, "-Dlog4j.configuration=file:/var/lib/zookeeper/conf/log4j.properties"),
    ],
)
def test_command_points_the_logger_at_the_log_config(layout, flag):
    assert flag in argv(layout)
    assert str(layout.log_config) in flag


def test_myid_file_is_the_id_on_one_line():
    assert render.myid_file(3) == "3\n"
