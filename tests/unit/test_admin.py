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


class AdminServerStub(http.server.BaseHTTPRequestHandler):
    answers: dict = {}

    def do_GET(self):
        status, body = self.answers.get(self.path, (404, b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_admin():
    """A real HTTP server on loopback that answers like ZooKeeper's admin server."""
    handler = type("Handler", (AdminServerStub,), {"answers": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield handler.answers, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_probe_reads_srvr_and_voting_view(http_admin):
    answers, port = http_admin
    answers["/commands/srvr"] = (200, json.dumps(SRVR_LEADER).encode())
    answers["/commands/voting_view"] = (200, json.dumps(VOTING_VIEW).encode())
    health = real_probe("127.0.0.1", port)
    assert health.serving
    assert health.mode == "leader"
    assert health.voters == 3


def test_probe_reads_each_client_chroots_connections_from_the_extension(http_admin):
    answers, port = http_admin
    answers["/commands/srvr"] = (200, json.dumps(SRVR_LEADER).encode())
    answers["/commands/voting_view"] = (200, json.dumps(VOTING_VIEW).encode())
    sessions = {"command": "client_sessions", "error": None, "sessions": {"/kafka": 3, "/b": 0}}
    answers["/commands/client_sessions"] = (200, json.dumps(sessions).encode())
    assert real_probe("127.0.0.1", port).sessions == (("/b", 0), ("/kafka", 3))


def test_probe_of_a_server_without_the_extension_still_serves_with_no_sessions(http_admin):
    answers, port = http_admin
    answers["/commands/srvr"] = (200, json.dumps(SRVR_LEADER).encode())
    answers["/commands/voting_view"] = (200, json.dumps(VOTING_VIEW).encode())
    health = real_probe("127.0.0.1", port)  # client_sessions: 404, as ZooKeeper answers
    assert health.serving and health.voters == 3
    assert health.sessions == ()


def test_probe_of_a_member_not_serving_answers_200_but_is_not_serving(http_admin):
    answers, port = http_admin
    answers["/commands/srvr"] = (200, json.dumps(SRVR_NOT_SERVING).encode())
    assert real_probe("127.0.0.1", port) == NOT_RUNNING


@pytest.mark.parametrize(
    "srvr",
    [
        pytest.param((500, b"{}"), id="http-error"),
        pytest.param((200, b"<html>starting</html>"), id="not-json"),
    ],
)
def test_probe_of_a_broken_answer_is_not_running(http_admin, srvr):
    answers, port = http_admin
    answers["/commands/srvr"] = srvr
    answers["/commands/voting_view"] = (200, json.dumps(VOTING_VIEW).encode())
    assert real_probe("127.0.0.1", port) == NOT_RUNNING


def test_probe_with_nothing_listening_is_not_running():
    with socket.socket() as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        assert real_probe("127.0.0.1", port, timeout=1.0) == NOT_RUNNING
