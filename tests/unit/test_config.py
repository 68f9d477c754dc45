"""The config model: what `juju config` accepts, and what it says when it refuses."""

import pathlib

import pytest
import yaml

import clients
from config import CharmConfig, InvalidConfigError, LogLevel, parse

CONFIG_YAML = yaml.safe_load(
    (pathlib.Path(__file__).parents[2] / "config.yaml").read_text(encoding="utf-8")
)["options"]

# option, lowest allowed, highest allowed (the ranges config.yaml promises)
BOUNDS = [
    ("tick-time", 100, 60000),
    ("init-limit", 1, 1000),
    ("sync-limit", 1, 1000),
    ("max-client-connections", 0, 100000),
    ("jvm-heap-mb", 128, 65536),
    ("autopurge-interval-hours", 1, 720),
    ("autopurge-snap-retain-count", 3, 100),
    ("client-max-znodes", 0, 100_000_000),
    ("client-max-bytes", 0, 1 << 40),
    ("backup-schedule-hours", 0, 8760),
    ("backup-retention", 0, 10000),
]
INT_OPTIONS = [option for option, _, _ in BOUNDS]
LEVELS_MESSAGE = "log-level must be one of DEBUG, INFO, WARN or ERROR"


def value_of(config: CharmConfig, option: str):
    return getattr(config, option.replace("-", "_"))


def test_no_options_gives_the_config_yaml_defaults():
    config = parse({})
    for option, spec in CONFIG_YAML.items():
        assert value_of(config, option) == spec.get("default"), option


def test_model_and_config_yaml_name_the_same_options():
    model_options = {field.replace("_", "-") for field in CharmConfig.model_fields}
    assert model_options == set(CONFIG_YAML)
    assert set(INT_OPTIONS) | {
        "log-level",
        "system-users",
        "delete-client-data",
        "open-chroots",
        "tls-protocols",
        "tls-client-auth",
        "tls-sans-ip",
        "expose-external",
    } == set(CONFIG_YAML)


def test_config_yaml_defaults_are_accepted_as_juju_sends_them():
    defaults = {
        option: spec["default"] for option, spec in CONFIG_YAML.items() if "default" in spec
    }
    assert parse(defaults) == parse({})


@pytest.mark.parametrize(("option", "low", "high"), BOUNDS)
def test_config_yaml_description_states_the_range(option, low, high):
    description = CONFIG_YAML[option]["description"]
    assert str(low) in description
    assert str(high) in description


@pytest.mark.parametrize(("option", "low", "high"), BOUNDS)
@pytest.mark.parametrize("edge", ["low", "high"])
def test_first_and_last_allowed_values_are_accepted(option, low, high, edge):
    value = low if edge == "low" else high
    assert value_of(parse({option: value}), option) == value


@pytest.mark.parametrize(("option", "low", "high"), BOUNDS)
@pytest.mark.parametrize("edge", ["below", "above"])
def test_one_beyond_the_range_is_rejected_naming_option_and_range(option, low, high, edge):
    value = low - 1 if edge == "below" else high + 1
    with pytest.raises(InvalidConfigError) as error:
        parse({option: value})
    assert str(error.value) == f"{option} must be between {low} and {high}"


@pytest.mark.parametrize("level", ["TRACE", "WARNING", "FATAL", ""])
def test_unknown_log_level_is_rejected_listing_the_levels(level):
    with pytest.raises(InvalidConfigError) as error:
        parse({"log-level": level})
    assert str(error.value) == LEVELS_MESSAGE


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("debug", LogLevel.DEBUG),
        ("info", LogLevel.INFO),
        ("Warn", LogLevel.WARN),
        ("error", LogLevel.ERROR),
        ("ERROR", LogLevel.ERROR),
    ],
)
def test_log_level_is_case_insensitive(given, expected):
    assert parse({"log-level": given}).log_level is expected


@pytest.mark.parametrize("option", INT_OPTIONS)
@pytest.mark.parametrize("value", ["2000", 2000.5, 200.0, True, None, [200]])
def test_a_number_option_given_something_else_says_so(option, value):
    with pytest.raises(InvalidConfigError) as error:
        parse({option: value})
    assert str(error.value) == f"{option} must be a whole number"


@pytest.mark.parametrize("value", [3, None, ["INFO"]])
def test_a_log_level_that_is_not_text_is_rejected(value):
    with pytest.raises(InvalidConfigError) as error:
        parse({"log-level": value})
    assert str(error.value) == LEVELS_MESSAGE


def test_several_bad_options_are_named_together():
    with pytest.raises(InvalidConfigError) as error:
        parse({"tick-time": 99, "log-level": "LOUD", "jvm-heap-mb": "big", "init-limit": 5})
    message = str(error.value)
    assert message == "; ".join(
        [
            "jvm-heap-mb must be a whole number",
            LEVELS_MESSAGE,
            "tick-time must be between 100 and 60000",
        ]
    )
    assert "init-limit" not in message


def test_invalid_config_error_is_a_value_error():
    # The charm catches InvalidConfigError; callers that catch ValueError still work.
    with pytest.raises(ValueError, match="sync-limit must be between 1 and 1000"):
        parse({"sync-limit": 0})


def test_parsed_config_cannot_be_changed_afterwards():
    config = parse({})
    with pytest.raises(ValueError, match="frozen"):
        config.tick_time = 5


@pytest.mark.parametrize(
    "value",
    ["not-a-secret", "secret:", "secret:UPPER", "", "secret://", "secret://model/", "secret:/x"],
)
def test_system_users_must_be_a_secret_id(value):
    with pytest.raises(InvalidConfigError) as error:
        parse({"system-users": value})
    assert str(error.value) == "system-users must be a secret ID (secret:...) from juju add-secret"


@pytest.mark.parametrize(
    "uri",
    [
        "secret:d1n5hhfmp25c77f4slv0",
        # The model-qualified form `juju secrets --format yaml` and some tools print.
        "secret://8a3e2f1c-1b2d-4e5f-9a8b-7c6d5e4f3a2b/d1n5hhfmp25c77f4slv0",
    ],
)
def test_system_users_takes_both_forms_of_a_secret_uri(uri):
    assert parse({"system-users": uri}).system_users == uri


def test_system_users_takes_a_secret_id():
    assert parse({"system-users": "secret:d1n5hhfmp25c77f4slv0"}).system_users == (
        "secret:d1n5hhfmp25c77f4slv0"
    )


# -- open-chroots ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "paths"),
    [
        ("", []),
        ("/public", ["/public"]),
        ("/public,/legacy-app", ["/public", "/legacy-app"]),
        (" /public , /legacy-app ,", ["/public", "/legacy-app"]),  # spaces and a trailing comma
        (",, ,", []),
    ],
)
def test_open_chroots_is_a_comma_separated_list(value, paths):
    assert parse({"open-chroots": value}).open_chroot_list == paths


def test_open_chroots_up_to_4096_characters_is_accepted():
    value = ",".join(["/p" + "x" * 97] * 41)[:4096]
    assert len(value) == 4096
    assert parse({"open-chroots": value}).open_chroots == value


def test_open_chroots_over_4096_characters_names_the_limit_not_the_type():
    with pytest.raises(InvalidConfigError) as error:
        parse({"open-chroots": "/a" * 2048 + "/"})
    assert str(error.value) == "open-chroots must be at most 4096 characters long"


@pytest.mark.parametrize("value", [5, None, ["/public"]])
def test_open_chroots_that_is_not_text_says_so(value):
    with pytest.raises(InvalidConfigError) as error:
        parse({"open-chroots": value})
    assert str(error.value) == "open-chroots must be text"


@pytest.mark.parametrize("value", [5, ["secret:abc"]])
def test_system_users_that_is_not_text_says_so(value):
    with pytest.raises(InvalidConfigError) as error:
        parse({"system-users": value})
    assert str(error.value) == "system-users must be text"


@pytest.mark.parametrize(
    ("value", "paths"),
    [
        ("/public/", ["/public"]),
        ("/public//, /legacy/app/", ["/public", "/legacy/app"]),
        ("/", ["/"]),  # kept, so the leader can say why it refuses it
        ("//", ["/"]),
    ],
)
def test_open_chroots_are_listed_without_trailing_slashes(value, paths):
    # The charm creates, opens and later closes each listed path: "/public/" must name the
    # znode /public, or closing it (dropped from the option) would reset no ACL at all.
    assert parse({"open-chroots": value}).open_chroot_list == paths


def test_the_same_open_chroot_with_and_without_a_slash_is_one_path_listed_twice():
    paths = parse({"open-chroots": "/public,/public/"}).open_chroot_list
    assert clients.open_chroot_problems(paths, {}) == [
        "open-chroots: /public overlaps /public, also listed"
    ]


def test_a_long_system_users_value_is_refused_as_no_secret_id_not_as_too_long():
    # Only open-chroots has a length limit.
    with pytest.raises(InvalidConfigError) as error:
        parse({"system-users": "secret:" + "a" * 5000 + "!"})
    assert str(error.value) == "system-users must be a secret ID (secret:...) from juju add-secret"
    assert parse({"system-users": "secret:" + "a" * 5000}).system_users == "secret:" + "a" * 5000


def test_a_copy_changes_only_what_it_is_given():
    config = parse({"tick-time": 3000})
    copy = config.model_copy(update={"jvm_heap_mb": 128})
    assert (copy.jvm_heap_mb, copy.tick_time, config.jvm_heap_mb) == (128, 3000, 1024)
    assert config.model_copy() == config


@pytest.mark.parametrize(
    ("value", "listed"),
    [
        ("TLSv1.3,TLSv1.2", ["TLSv1.3", "TLSv1.2"]),
        ("TLSv1.2", ["TLSv1.2"]),
        (" TLSv1.3 ", ["TLSv1.3"]),
        ("TLSv1.2, TLSv1.3, TLSv1.2", ["TLSv1.2", "TLSv1.3"]),
    ],
)
def test_tls_protocols_lists_the_versions_servers_accept(value, listed):
    assert parse({"tls-protocols": value}).tls_protocol_list == listed


@pytest.mark.parametrize("value", ["", " , ", "TLSv1.1", "TLSv1.3,SSLv3", "tlsv1.3", 13])
def test_tls_protocols_other_than_13_and_12_are_refused_naming_both(value):
    with pytest.raises(InvalidConfigError) as caught:
        parse({"tls-protocols": value})
    message = str(caught.value)
    assert message.startswith("tls-protocols ")
    assert "TLSv1.3" in message
    assert "TLSv1.2" in message


@pytest.mark.parametrize("value", ["none", "want", "need"])
def test_tls_client_auth_takes_the_three_server_settings(value):
    assert parse({"tls-client-auth": value}).tls_client_auth == value


@pytest.mark.parametrize("value", ["NEED", "required", "", True])
def test_tls_client_auth_other_values_are_refused_listing_them(value):
    with pytest.raises(
        InvalidConfigError, match="tls-client-auth must be one of none, want, need"
    ):
        parse({"tls-client-auth": value})


def test_tls_sans_ip_must_be_a_boolean():
    assert parse({"tls-sans-ip": True}).tls_sans_ip is True
    with pytest.raises(InvalidConfigError, match="tls-sans-ip"):
        parse({"tls-sans-ip": "yes"})
