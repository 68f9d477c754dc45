"""The admin server probe: what a member's JSON answers mean for the charm."""

import http.server
import json
import socket
import threading

import pytest

from admin import NOT_RUNNING, Health
from admin import probe as real_probe  # bound before the autouse fixture swaps admin.probe

# Shapes of ZooKeeper 3.9's admin server answers (GET /commands/<name>).
SRVR_LEADER = {
    "command": "srvr",
    "error": None,
    "server_stats": {
        "server_state": "leader",
        "outstanding_requests": 2,
        "last_processed_zxid": 4294967301,
        "num_alive_client_connections": 7,
    },
}
SRVR_NOT_SERVING = {
    "command": "srvr",
    "error": "This ZooKeeper instance is not currently serving requests",
}
VOTING_VIEW = {
    "command": "voting_view",
    "error": None,
    "current_config": {
        "1": "zk-0:2888:3888:participant;0.0.0.0:2181",
        "2": "zk-1:2888:3888:participant;0.0.0.0:2181",
        "3": "zk-2:2888:3888:participant;0.0.0.0:2181",
    },
}


def test_a_serving_member_reports_mode_voters_and_load():
    health = Health.parse(SRVR_LEADER, VOTING_VIEW)
    assert health.serving
    assert health.mode == "leader"
    assert health.voters == 3
    assert health.voter_ids == {1, 2, 3}
    assert (health.outstanding_requests, health.zxid, health.connections) == (2, 4294967301, 7)


@pytest.mark.parametrize(
    "srvr",
    [
        pytest.param(SRVR_NOT_SERVING, id="error-in-body"),
        pytest.param({"command": "srvr", "error": None}, id="no-stats"),
        pytest.param({}, id="empty"),
    ],
)
def test_an_answer_without_stats_is_not_serving(srvr):
    assert Health.parse(srvr, VOTING_VIEW) == NOT_RUNNING


def unknown(command: str) -> tuple[int, bytes]:
    """ZooKeeper 3.9's answer to a command it does not know (Commands.runCommand)."""
    return 200, json.dumps({"command": command, "error": f"Unknown command: {command}"}).encode()


class AdminServerStub(http.server.BaseHTTPRequestHandler):
    answers: dict = {}
    asked: list = []

    def do_GET(self):
        self.asked.append(self.path)
        status, body = self.answers.get(self.path) or unknown(self.path.rsplit("/", 1)[-1])
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_admin():
    """A real HTTP server on loopback that answers like ZooKeeper's admin server; the paths
    asked are in handler.asked."""
    handler = type("Handler", (AdminServerStub,), {"answers": {}, "asked": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield handler, server.server_address[1]
    server.shutdown()
    server.server_close()


def charm_probe(srvr: dict, voting_view: dict, sessions: dict | None) -> tuple[int, bytes]:
    """The extension's answer: each command's own answer under its name."""
    answer = {"command": "charm_probe", "error": None, "srvr": srvr, "voting_view": voting_view}
    answer["client_sessions"] = (
        None
        if sessions is None
        else {"command": "client_sessions", "error": None, "sessions": sessions}
    )
    return 200, json.dumps(answer).encode()


def test_probe_asks_the_extension_once_for_state_voters_and_each_chroots_connections(http_admin):
    handler, port = http_admin
    sessions = {"/kafka": 3, "/b": 0}
    handler.answers["/commands/charm_probe"] = charm_probe(SRVR_LEADER, VOTING_VIEW, sessions)
    health = real_probe("127.0.0.1", port)
    assert (health.serving, health.mode, health.voters) == (True, "leader", 3)
    assert health.sessions == (("/b", 0), ("/kafka", 3))
    assert handler.asked == ["/commands/charm_probe"]


def test_probe_of_a_server_without_the_extension_reads_zookeepers_commands_and_no_sessions(
    http_admin,
):
    handler, port = http_admin
    handler.answers["/commands/srvr"] = (200, json.dumps(SRVR_LEADER).encode())
    handler.answers["/commands/voting_view"] = (200, json.dumps(VOTING_VIEW).encode())
    health = real_probe("127.0.0.1", port)  # charm_probe: "Unknown command", as ZooKeeper says
    assert (health.serving, health.mode, health.voters) == (True, "leader", 3)
    assert health.sessions == ()


@pytest.mark.parametrize("extension", [True, False], ids=["extension", "no-extension"])
def test_probe_of_a_member_not_serving_answers_200_but_is_not_serving(http_admin, extension):
    handler, port = http_admin
    error = dict(SRVR_NOT_SERVING, command="charm_probe" if extension else "srvr")
    path = "/commands/charm_probe" if extension else "/commands/srvr"
    handler.answers[path] = (200, json.dumps(error).encode())
    assert real_probe("127.0.0.1", port) == NOT_RUNNING


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param((500, b"{}"), id="http-error"),
        pytest.param((200, b"<html>starting</html>"), id="not-json"),
        pytest.param((200, b"[]"), id="not-an-object"),
    ],
)
@pytest.mark.parametrize("command", ["charm_probe", "srvr"])
def test_probe_of_a_broken_answer_is_not_running(http_admin, answer, command):
    handler, port = http_admin
    handler.answers[f"/commands/{command}"] = answer
    handler.answers["/commands/voting_view"] = (200, json.dumps(VOTING_VIEW).encode())
    assert real_probe("127.0.0.1", port) == NOT_RUNNING


def test_probe_with_nothing_listening_is_not_running():
    with socket.socket() as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        assert real_probe("127.0.0.1", port, timeout=1.0) == NOT_RUNNING
