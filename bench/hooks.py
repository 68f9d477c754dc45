#!/usr/bin/env python3
"""The cost of one hook: a fresh Python process that imports the charm and handles one event.

A 3-unit ensemble of the real charm (tests/live/cluster.py plays Juju; each unit a pod with
its own network namespace and DNS name, its server in the rock-like root) is deployed and
settled. Then, for update-status and config-changed on the Juju leader and on a non-leader
unit, --runs fresh processes each import ops and the charm and dispatch exactly that one
event through ops.testing against the unit's steady state (pickled by this process). Each
process starts inside the unit's network namespace, as the unit's hooks run, so the servers
are real: the charm's admin-server probes (the pod's loopback) and kazoo sessions reach them.

One JSON line per (event, role); times are medians over the runs unless named p90:
  wall_s, wall_s_p90     the whole child process, as this process saw it (spawn to exit)
  startup_s              spawn, interpreter start, site and this file's stdlib imports
  ops_import_s           `import ops` (a real dispatch pays it too)
  charm_import_s         `import charm` with ops already imported: the charm's own cost
  testing_import_s       `from ops import testing` (harness only, NOT in a real dispatch)
  setup_s                unpickling the State, building the Context (harness only)
  charm_init_s           ZooKeeperCharm.__init__ (real)
  emit_s                 ops emitting the event and collect-status: the charm's handlers,
                         its probes, sessions and sleeps, and ops's event machinery (real)
  run_s                  all of ctx.run: charm_init_s + emit_s + ops.testing's own work
                         (State to mock backend and back, consistency checks)
  teardown_s             from the child's last line to its exit (interpreter shutdown)
  wall_minus_harness_s   wall_s - testing_import_s - setup_s - (run_s - charm_init_s -
                         emit_s): an estimate of the same process without ops.testing
  kazoo_sessions         KazooClient.start calls (wrapped via an import hook, so kazoo is
                         not imported early and its lazy import still costs the hook)
  kazoo_imported         whether the hook imported kazoo at all
  admin_probes           admin.probe calls; admin_http_requests: GETs to /commands/
  four_letter_words      admin.four_letter calls (if the charm has it)
  hook_tools             calls into the model backend, i.e. hook tool processes under Juju
                         (ops caches is-leader for 30s; hook_tool_calls counts it once)
  pebble_calls           Pebble API calls (one HTTP request each over Pebble's socket)
  peak_rss_mb            the child's peak resident memory (VmHWM at its last line)

For update-status, each charm run is followed by one of bench/empty_charm.py (an ops charm
whose update-status handler does nothing; same metadata, unit state, ops, harness, pod and
way of starting), so load on the machine hits both alike. After the four lines above, two
lines per role for update-status:
  {"bench": "hooks-paired", ...}: the goal that one update-status costs at most 1.5x the
    empty charm's. charm_s and empty_s are medians of wall_minus_harness_s (the closest to
    a real dispatch), ratio = charm_s / empty_s, met = ratio <= goal_ratio (1.5);
    pair_ratio_median is the median of the run-by-run ratios. The same by plain wall time:
    charm_wall_s, empty_wall_s, wall_ratio. Also both charms' import, emit and teardown
    times and their peak memory (charm_peak_rss_mb, empty_peak_rss_mb; ops.testing is in
    both).
  {"bench": "hooks-tools", ...}: the goal of at most 10 hook tool processes per
    update-status, counted as Juju would run them: tools, by hook tool name (is-leader once:
    ops caches it; goal-state for planned_units), and hook_tools, their sum; met =
    hook_tools <= goal_hook_tools. juju-log apart: ops's root handler sends every record
    at DEBUG or above to juju-log, one process per chunk ops splits it into, so juju_log
    counts those chunks and juju_log_by_logger names each record's level, logger and
    message template; hook_tools_with_log and met_with_log count them in. Records that are
    the harness's own (ops.testing's loggers, ops's warnings about local file owners inside
    the mock Pebble) are listed in harness_log_not_counted. The empty charm's counts beside
    them (empty_*) are what ops alone costs. The "hooks" lines' hook_tools/hook_tool_calls
    keep their older meaning: raw calls into ops.testing's backend, all juju_log calls in.
Then a line with import costs in fresh processes (medians over --runs): `python -c pass`,
`import ops`, `import charm` with and without ops imported first, `import kazoo.client`
after the charm (what a hook that opens a session adds), the compile time of
src/charm.py (Juju's dispatch runs it as __main__, which is never cached as bytecode), and the
5 packages that cost most under `import charm` once ops is imported (self time from -X importtime,
summed per top-level package, with the charm module that pulls each in). Last, a line with
the total wall time and the Juju stand-in's seed (--seed replays its hook orders).

Not measured: Juju's own work around a hook (starting the process in the charm container,
and the hook tools themselves: under ops.testing each is a Python call, under Juju its own
process and a round trip to the unit agent, so hook_tools counts them instead), ops.main's
unit state file and metadata parsing, and a cold page cache (one untimed warm-up run
compiles the bytecode first). startup_s includes ~20-30 ms of this harness's own imports.
"""

from __future__ import annotations

import functools
import json
import pickle
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC, LIB, BENCH = REPO / "src", REPO / "lib", REPO / "bench"


def child_env() -> dict[str, str]:
    """The environment of a hook's process here. Juju's dispatch (`PYTHONPATH=lib:venv
    python3 ./src/charm.py` in the charm directory, which root owns and can write) lets
    Python cache bytecode in `src/__pycache__`: from a unit's second hook on, imports read
    .pyc files. A shell that exports PYTHONDONTWRITEBYTECODE (this machine's does) would
    make every child compile the charm's sources again, a cost no deployed hook pays."""
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


EVENTS = ("update_status", "config_changed")
ROLES = ("leader", "non-leader")
SIZE = 3
CHILD_TIMEOUT = 180.0  # a hook that waits for a joiner may take 60s; steady ones take <1s
EMPTY = "empty_charm"  # bench/empty_charm.py: the floor the charm is compared with
PAIRED = ("update_status",)  # events also run on the empty charm, interleaved
GOAL_RATIO = 1.5  # an update-status at most 1.5x the empty charm's
GOAL_HOOK_TOOLS = 10  # hook tool processes per update-status at most


# -- the child: one hook in a fresh process ----------------------------------------------------
# Only stdlib modules above this line: they are part of startup_s in every child.


class _KazooCounter:
    """Counts KazooClient.start once the hook imports kazoo.client, without importing it."""

    def __init__(self):
        self.sessions = 0

    def find_spec(self, name, path=None, target=None):
        if name != "kazoo.client":
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_count(module):
            exec_module(module)
            start = module.KazooClient.start

            @functools.wraps(start)
            def counted(client, *args, **kwargs):
                self.sessions += 1
                return start(client, *args, **kwargs)

            module.KazooClient.start = counted

        spec.loader.exec_module = exec_and_count
        return spec


def _count_calls(owner, names, counts: dict[str, int]) -> list[bool]:
    """Wrap owner.<name> for each name; nested calls within one group count once.

    Returns the group's busy flag: [True] while one of its calls runs."""
    busy = [False]

    def wrap(name, function):
        @functools.wraps(function)
        def counted(*args, **kwargs):
            if busy[0]:
                return function(*args, **kwargs)
            counts[name] = counts.get(name, 0) + 1
            busy[0] = True
            try:
                return function(*args, **kwargs)
            finally:
                busy[0] = False

        return counted

    for name in names:
        function = getattr(owner, name, None)
        if callable(function):
            setattr(owner, name, wrap(name, function))
    return busy


def _timed(function, times: dict[str, float], key: str):
    @functools.wraps(function)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            times[key] = times.get(key, 0.0) + time.perf_counter() - started

    return timed


# Model backend method -> the hook tool it runs under Juju (ops.model._ModelBackend), where
# the name is not simply the method's with '-' for '_'.
TOOL_NAMES = {
    "planned_units": "goal-state",
    "relation_remote_app_name": "relation-list",
    "application_version_set": "application-version-set",
    "reboot": "juju-reboot",
}
# Loggers of the harness itself: not in a real dispatch, so not a juju-log there.
HARNESS_LOGGERS = ("ops-scenario", "scenario")


def child() -> None:
    import os

    spec_path, launched, module_name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    startup = time.time() - launched
    sys.path[:0] = [str(SRC), str(LIB)]  # what the charm's dispatch puts on the path
    kazoo = _KazooCounter()
    sys.meta_path.insert(0, kazoo)
    t0 = time.perf_counter()
    import ops

    t1 = time.perf_counter()
    module = __import__(module_name)  # `import charm`, or the empty charm

    # What both charms' `__main__` does before ops.main (charm.py, empty_charm.py).
    import gc

    gc.freeze()
    t2 = time.perf_counter()
    from ops import testing

    t3 = time.perf_counter()

    # Harness setup (not in a real dispatch): the unit's state and its charm class.
    from ops.log import JujuLogHandler
    from ops.model import _ModelBackend
    from scenario import _ops_main_mock, mocking

    with open(spec_path, "rb") as file:
        spec = pickle.load(file)  # noqa: S301 (written by the parent, in its own temp dir)
    times: dict[str, float] = {}
    if module_name == "charm":
        base = module.ZooKeeperCharm
        attrs = {**spec["charm_attrs"], "layout": spec["layout"]}
    else:
        base, attrs = module.EmptyCharm, {}
    attrs["__init__"] = _timed(base.__init__, times, "charm_init_s")
    charm_class = type(spec["charm_name"], (base,), attrs)
    ctx = testing.Context(charm_class, **spec["context"])
    state: testing.State = spec["state"]
    event = getattr(ctx.on, spec["event"])()

    # Instrumentation: counters only, so the hook runs as it would.
    hook_tools: dict[str, int] = {}
    pebble_calls: dict[str, int] = {}
    admin_calls: dict[str, int] = {}
    http: dict[str, int] = {}
    juju_log: dict[str, int] = {}
    harness_log: dict[str, int] = {}
    skip = {"get_pebble", "log_split", "update_relation_data"}  # not hook tools themselves
    tools = [n for n, f in vars(_ModelBackend).items() if callable(f) and n[0] != "_"]
    _count_calls(mocking._MockModelBackend, [n for n in tools if n not in skip], hook_tools)
    api = [n for n, f in vars(ops.pebble.Client).items() if callable(f) and n[0] != "_"]
    in_pebble = _count_calls(mocking._MockPebbleClient, api, pebble_calls)
    admin = sys.modules.get("admin")  # the charm's admin-server client, if it has one
    if admin is not None:
        _count_calls(admin, ["probe", "four_letter", "quorum_synced"], admin_calls)
        urlopen = admin.urllib.request.urlopen

        def counted_urlopen(url, *args, **kwargs):
            if "/commands/" in str(getattr(url, "full_url", url)):
                http["requests"] = http.get("requests", 0) + 1
            return urlopen(url, *args, **kwargs)

        admin.urllib.request.urlopen = counted_urlopen
    log_emit = JujuLogHandler.emit

    def counted_log_emit(handler, record):
        # Under Juju each chunk ops splits a record into is one juju-log process. Not so the
        # harness's own records, nor those logged inside the mock Pebble (ops's warnings
        # about local files' owners; real Pebble answers over its socket and logs nothing).
        key = f"{record.levelname} {record.name}: {str(record.msg)[:60]}"  # the template
        harness = record.name.startswith(HARNESS_LOGGERS) or in_pebble[0]
        counts = harness_log if harness else juju_log
        chunks = sum(1 for _ in _ModelBackend.log_split(handler.format(record)))
        counts[key] = counts.get(key, 0) + chunks
        return log_emit(handler, record)

    JujuLogHandler.emit = counted_log_emit
    _ops_main_mock.Ops._emit = _timed(_ops_main_mock.Ops._emit, times, "emit_s")
    t4 = time.perf_counter()

    profile = os.environ.get("BENCH_HOOKS_PROFILE")  # a path: cProfile the dispatch there
    if profile:
        import cProfile

        with cProfile.Profile() as profiler:
            out = ctx.run(event, state)
        profiler.dump_stats(f"{profile}.{spec['event']}.{module_name}.{os.getpid()}")
    else:
        out = ctx.run(event, state)
    t5 = time.perf_counter()

    def peer_data(s: testing.State) -> dict:
        return {r.id: (dict(r.local_app_data), dict(r.local_unit_data)) for r in s.relations}

    status = out.unit_status
    result = {
        "startup_s": startup,
        "ops_import_s": t1 - t0,
        "charm_import_s": t2 - t1,
        "testing_import_s": t3 - t2,
        "setup_s": t4 - t3,
        "charm_init_s": times.get("charm_init_s", 0.0),
        "emit_s": times.get("emit_s", 0.0),
        "run_s": t5 - t4,
        "kazoo_sessions": kazoo.sessions,
        "kazoo_imported": "kazoo.client" in sys.modules,
        "admin_probes": admin_calls.get("probe", 0),
        "admin_http_requests": http.get("requests", 0),
        "four_letter_words": admin_calls.get("four_letter", 0),
        "hook_tools": dict(sorted(hook_tools.items())),
        "juju_log": dict(sorted(juju_log.items())),
        "harness_log": dict(sorted(harness_log.items())),
        "pebble_calls": dict(sorted(pebble_calls.items())),
        "unit_status": f"{status.name}: {status.message}",
        "peer_data_changed": peer_data(out) != peer_data(state),
        "peak_rss_mb": _peak_rss_mb(),
        "elapsed_s": time.time() - launched,  # the parent's clock: the rest is teardown
    }
    sys.stdout.write(json.dumps(result) + "\n")


def _peak_rss_mb() -> float:
    """This process's peak resident set so far (VmHWM; the kernel's ru_maxrss is the same)."""
    with open("/proc/self/status") as status:
        for text in status:
            if text.startswith("VmHWM:"):
                return int(text.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the parent: a steady ensemble, then many children -----------------------------------------


def steady_cluster(workdir: Path, seed: int):
    """Deploy 3 units and settle until an update-status round changes nothing."""
    from tests.live.cluster import Cluster

    cluster = Cluster(workdir, seed=seed)
    try:
        cluster.deploy(SIZE)
        cluster.wait_serving(timeout=90)
        for _ in range(5):
            before = _shared(cluster)
            cluster.settle()
            if _shared(cluster) == before:
                return cluster
        raise RuntimeError("the ensemble never settled: update-status keeps changing data")
    except BaseException:
        cluster.stop()
        raise


def _shared(cluster) -> tuple:
    units = {o: dict(u.unit_data) for o, u in cluster.units.items()}
    return dict(cluster.app_data), units, {o: str(u.status) for o, u in cluster.units.items()}


def write_spec(cluster, ordinal: int, event: str, path: Path, empty: bool = False) -> None:
    """What a child needs to run one event on one unit, as the Cluster itself would.

    empty: for the empty charm, the same unit state and metadata, none of the charm's own."""
    unit = cluster.units[ordinal]
    context = cluster._context(unit)
    attrs = {k: v for k, v in vars(unit.charm).items() if not k.startswith("__")}
    attrs.pop("layout", None)
    spec = {
        "state": cluster._state(unit, cluster._snapshot(unit)),
        "event": event,
        # Picklable as it is: the pod's address is layout's own function, not a closure.
        "layout": None if empty else unit.layout,
        "charm_name": "EmptyCharm" if empty else unit.charm.__name__,
        "charm_attrs": {} if empty else attrs,
        "context": {
            "meta": cluster._meta,
            "config": cluster._config_meta,
            "actions": cluster._actions,
            "app_name": context.app_name,
            "unit_id": context.unit_id,
        },
    }
    path.write_bytes(pickle.dumps(spec))


def run_child(spec: Path, netns: str, module: str = "charm") -> tuple[float, dict]:
    import subprocess

    from tests.live import network

    # Imported, not run as a script, so this file's bytecode is cached like the charm's.
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import hooks; hooks.child()"
    # Forked from a thread inside the pod's namespace: in it from its first instruction,
    # with no nsenter in between to add to its wall time.
    with network.inside(netns):
        launched = time.time()
        done = subprocess.run(
            [sys.executable, "-c", code, str(spec), repr(launched), module],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            cwd=REPO,
            env=child_env(),
        )
        wall = time.time() - launched
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["teardown_s"] = wall - result.pop("elapsed_s")
    return wall, result


def _p90(values: list[float]) -> float:
    import statistics

    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def _same(values: list):
    """One value if every run agreed, else every distinct value seen."""
    distinct = []
    for value in values:
        if value not in distinct:
            distinct.append(value)
    return distinct[0] if len(distinct) == 1 else distinct


def summarize(event: str, role: str, unit: str, samples: list[tuple[float, dict]]) -> dict:
    import statistics

    def med(values) -> float:
        return round(statistics.median(values), 4)

    walls = [wall for wall, _ in samples]
    results = [result for _, result in samples]
    line = {
        "bench": "hooks",
        "event": event,
        "role": role,
        "unit": unit,
        "runs": len(samples),
        "wall_s": med(walls),
        "wall_s_p90": round(_p90(walls), 4),
    }
    for key in (
        "startup_s",
        "ops_import_s",
        "charm_import_s",
        "testing_import_s",
        "setup_s",
        "charm_init_s",
        "emit_s",
        "run_s",
        "teardown_s",
    ):
        line[key] = med([r[key] for r in results])
    line["wall_minus_harness_s"] = med([_without_harness(w, r) for w, r in samples])
    line["peak_rss_mb"] = med([r["peak_rss_mb"] for r in results])
    for key in (
        "kazoo_sessions",
        "kazoo_imported",
        "admin_probes",
        "admin_http_requests",
        "four_letter_words",
        "hook_tools",
        "pebble_calls",
        "unit_status",
        "peer_data_changed",
    ):
        line[key] = _same([r[key] for r in results])
    line["hook_tool_calls"] = _same(
        [
            sum(n for t, n in r["hook_tools"].items() if t != "is_leader")
            + min(r["hook_tools"].get("is_leader", 0), 1)
            for r in results
        ]
    )
    line["pebble_requests"] = _same([sum(r["pebble_calls"].values()) for r in results])
    return line


def _without_harness(wall: float, result: dict) -> float:
    """wall_minus_harness_s of one run: its wall time less what only ops.testing does."""
    harness = (
        result["testing_import_s"]
        + result["setup_s"]
        + result["run_s"]
        - result["charm_init_s"]
        - result["emit_s"]
    )
    return wall - harness


def juju_tools(result: dict) -> dict[str, int]:
    """The hook tool processes one dispatch would run under Juju, by name (not juju-log)."""
    tools: dict[str, int] = {}
    for name, calls in result["hook_tools"].items():
        if name == "juju_log":
            continue  # counted per record and chunk, as Juju pays them: result["juju_log"]
        if name == "is_leader":
            calls = min(calls, 1)  # ops.model caches the answer for 30 s
        tool = TOOL_NAMES.get(name, name.replace("_", "-"))
        tools[tool] = tools.get(tool, 0) + calls
    return dict(sorted(tools.items()))


def tools_line(event: str, role: str, unit: str, charm: list, empty: list) -> dict:
    """Goal 2: hook tool processes per hook, the charm's and the empty charm's."""
    counts = {}
    for who, samples in (("charm", charm), ("empty", empty)):
        results = [result for _, result in samples]
        counts[who] = {
            "tools": _same([juju_tools(r) for r in results]),
            "n": _same([sum(juju_tools(r).values()) for r in results]),
            "log": _same([r["juju_log"] for r in results]),
            "log_n": _same([sum(r["juju_log"].values()) for r in results]),
            "harness_log": _same([r["harness_log"] for r in results]),
        }
    ours = counts["charm"]
    numeric = isinstance(ours["n"], int) and isinstance(ours["log_n"], int)
    return {
        "bench": "hooks-tools",
        "event": event,
        "role": role,
        "unit": unit,
        "hook_tools": ours["n"],
        "tools": ours["tools"],
        "juju_log": ours["log_n"],
        "juju_log_by_logger": ours["log"],
        "hook_tools_with_log": ours["n"] + ours["log_n"] if numeric else None,
        "harness_log_not_counted": ours["harness_log"],
        "empty_hook_tools": counts["empty"]["n"],
        "empty_tools": counts["empty"]["tools"],
        "empty_juju_log": counts["empty"]["log_n"],
        "empty_juju_log_by_logger": counts["empty"]["log"],
        "goal_hook_tools": GOAL_HOOK_TOOLS,
        "met": _worst(ours["n"]) <= GOAL_HOOK_TOOLS,
        "met_with_log": numeric and ours["n"] + ours["log_n"] <= GOAL_HOOK_TOOLS,
    }


def _worst(count: int | list[int]) -> int:
    return max(count) if isinstance(count, list) else count


def paired_line(event: str, role: str, unit: str, charm: list, empty: list) -> dict:
    """Goals 1 and 3: the charm against the empty charm, runs interleaved one for one."""
    import statistics

    def med(values) -> float:
        return round(statistics.median(values), 4)

    net = {who: [_without_harness(w, r) for w, r in s] for who, s in (("c", charm), ("e", empty))}
    walls = {who: [w for w, _ in s] for who, s in (("c", charm), ("e", empty))}
    charm_s, empty_s = med(net["c"]), med(net["e"])
    ratio = round(charm_s / empty_s, 3)
    return {
        "bench": "hooks-paired",
        "event": event,
        "role": role,
        "unit": unit,
        "runs": len(charm),
        "metric": "wall_minus_harness_s",
        "charm_s": charm_s,
        "empty_s": empty_s,
        "ratio": ratio,
        "pair_ratio_median": round(
            statistics.median(c / e for c, e in zip(net["c"], net["e"], strict=True)), 3
        ),
        "charm_wall_s": med(walls["c"]),
        "empty_wall_s": med(walls["e"]),
        "wall_ratio": round(med(walls["c"]) / med(walls["e"]), 3),
        "charm_import_s": med([r["charm_import_s"] for _, r in charm]),
        "empty_import_s": med([r["charm_import_s"] for _, r in empty]),
        "charm_emit_s": med([r["emit_s"] for _, r in charm]),
        "empty_emit_s": med([r["emit_s"] for _, r in empty]),
        "charm_teardown_s": med([r["teardown_s"] for _, r in charm]),
        "empty_teardown_s": med([r["teardown_s"] for _, r in empty]),
        "charm_peak_rss_mb": med([r["peak_rss_mb"] for _, r in charm]),
        "empty_peak_rss_mb": med([r["peak_rss_mb"] for _, r in empty]),
        "goal_ratio": GOAL_RATIO,
        "met": ratio <= GOAL_RATIO,
    }


# -- import costs ------------------------------------------------------------------------------

_PATH = f"import sys; sys.path[:0] = [{str(SRC)!r}, {str(LIB)!r}]"
_CLOCK = "import time; t = time.perf_counter()"
_SHOW = "print(time.perf_counter() - t)"
_NOW = "import time; print(time.time())"  # exit cost: from this print to the process's end
IMPORT_PROBES = {
    "python_startup_s": "pass",  # the whole process
    "ops_cold_s": f"{_PATH}; {_CLOCK}; import ops; {_SHOW}",
    "charm_cold_s": f"{_PATH}; {_CLOCK}; import charm; {_SHOW}",
    "charm_after_ops_s": f"{_PATH}; import ops; {_CLOCK}; import charm; {_SHOW}",
    "kazoo_after_charm_s": f"{_PATH}; import charm; {_CLOCK}; import kazoo.client; {_SHOW}",
    # Interpreter shutdown with the charm's modules loaded: its final garbage collections
    # walk every object; gc.freeze() (at the end of a hook) leaves them out.
    "exit_after_charm_s": f"{_PATH}; import charm; {_NOW}",
    "exit_after_charm_gc_freeze_s": f"{_PATH}; import charm, gc; gc.freeze(); {_NOW}",
}


def import_costs(runs: int) -> dict:
    import statistics
    import subprocess

    line: dict = {"bench": "hooks", "what": "imports", "runs": runs}
    for key, code in IMPORT_PROBES.items():
        values = []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
                env=child_env(),
            )
            ended = time.time()
            if code == "pass":
                values.append(time.perf_counter() - started)
            elif key.startswith("exit_"):
                values.append(ended - float(done.stdout))
            else:
                values.append(float(done.stdout))
        line[key] = round(statistics.median(values), 4)
    source = (SRC / "charm.py").read_text()
    compiles = []
    for _ in range(runs):
        started = time.perf_counter()
        compile(source, "charm.py", "exec")
        compiles.append(time.perf_counter() - started)
    line["main_compile_s"] = round(statistics.median(compiles), 4)
    line.update(top_imports(runs))
    return line


def _import_tree(stderr: str) -> list[tuple[int, str, int, list]]:
    """-X importtime output as (self_us, name, depth, children) nodes; roots returned."""
    roots: list = []
    for text in stderr.splitlines():
        if not text.startswith("import time:") or "[us]" in text:
            continue
        parts = text.split("|")
        self_us = int(parts[0].split(":")[1])
        name_field = parts[2][1:]
        name = name_field.strip()
        depth = (len(name_field) - len(name_field.lstrip())) // 2
        children = []
        while roots and roots[-1][2] > depth:  # post-order: children came first
            children.insert(0, roots.pop())
        roots.append((self_us, name, depth, children))
    return roots


def _sum_packages(node, importer: str, first_party: set, totals: dict, via: dict) -> None:
    """Add each module's self time to its top-level package; note which charm module
    (the nearest first-party importer) first pulled the package in."""
    self_us, name, _, children = node
    package = name.split(".")[0]
    totals[package] = totals.get(package, 0) + self_us
    via.setdefault(package, importer)
    here = name if name in first_party else importer
    for child_node in children:
        _sum_packages(child_node, here, first_party, totals, via)


def top_imports(runs: int, top: int = 5) -> dict:
    """Self time under `import charm` (ops already imported), summed per top-level package."""
    import statistics
    import subprocess

    first_party = {p.stem for p in SRC.glob("*.py")}
    per_run: list[dict[str, int]] = []
    via: dict[str, str] = {}
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"{_PATH}; import ops; import charm"],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env=child_env(),
        )
        roots = _import_tree(done.stderr)
        charm = next(node for node in roots if node[1] == "charm")
        totals: dict[str, int] = {}
        _sum_packages(charm, "charm", first_party, totals, via)
        per_run.append(totals)
    packages = {p for totals in per_run for p in totals}
    medians = {p: statistics.median(t.get(p, 0) for t in per_run) for p in packages}
    ranked = sorted(medians.items(), key=lambda item: -item[1])[:top]
    top_list = [
        {
            "package": package,
            "self_ms": round(us / 1000, 1),
            "imported_by": via[package] if package != "charm" else None,
        }
        for package, us in ranked
    ]
    own = sum(us for p, us in medians.items() if p in first_party)
    other = sum(us for p, us in medians.items() if p not in first_party)
    return {
        "top5_under_charm": top_list,
        "under_charm_first_party_ms": round(own / 1000, 1),
        "under_charm_third_party_ms": round(other / 1000, 1),
    }


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    import argparse
    import logging
    import signal
    import tempfile

    sys.path[:0] = [str(SRC), str(REPO)]
    from tests.live import network
    from tests.live.juju import seed_from_env

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="processes per (event, role)")
    parser.add_argument(
        "--seed",
        type=int,
        help="the Juju stand-in's hook-order seed (default: ZK_LIVE_SEED, else random)",
    )
    args = parser.parse_args()
    network.enter()
    seed = seed_from_env() if args.seed is None else args.seed
    # SIGTERM unwinds like Ctrl-C, so the finally below stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zookeeper-k8s-bench-hooks-") as tmp:
        workdir = Path(tmp)
        cluster = steady_cluster(workdir / "cluster", seed)
        paired: list[dict] = []
        try:
            deploy_s = time.perf_counter() - started
            leader = cluster.leader
            follower = min(o for o in cluster.units if o != leader)
            warm, warm_empty = workdir / "warm.pickle", workdir / "warm-empty.pickle"
            write_spec(cluster, leader, EVENTS[0], warm)
            write_spec(cluster, leader, EVENTS[0], warm_empty, empty=True)
            # Untimed: compiles bytecode of whatever changed since.
            run_child(warm, cluster.units[leader].netns)
            run_child(warm_empty, cluster.units[leader].netns, EMPTY)
            for event in EVENTS:
                for role, ordinal in zip(ROLES, (leader, follower), strict=True):
                    spec = workdir / f"{event}-{ordinal}.pickle"
                    write_spec(cluster, ordinal, event, spec)
                    netns = cluster.units[ordinal].netns
                    unit = cluster.units[ordinal].name
                    if event not in PAIRED:
                        samples = [run_child(spec, netns) for _ in range(args.runs)]
                        print(json.dumps(summarize(event, role, unit, samples)), flush=True)
                        continue
                    # Charm, empty, charm, empty...: load on the machine hits both alike.
                    empty_spec = workdir / f"{event}-{ordinal}-empty.pickle"
                    write_spec(cluster, ordinal, event, empty_spec, empty=True)
                    samples, empty = [], []
                    for _ in range(args.runs):
                        samples.append(run_child(spec, netns))
                        empty.append(run_child(empty_spec, netns, EMPTY))
                    print(json.dumps(summarize(event, role, unit, samples)), flush=True)
                    paired.append(paired_line(event, role, unit, samples, empty))
                    paired.append(tools_line(event, role, unit, samples, empty))
            for line in paired:
                print(json.dumps(line), flush=True)
        finally:
            cluster.stop()
            network.cleanup_units()
    print(json.dumps(import_costs(args.runs)), flush=True)
    total = {
        "bench": "hooks",
        "what": "total",
        "deploy_and_settle_s": round(deploy_s, 2),
        "wall_s": round(time.perf_counter() - started, 2),
        "seed": seed,
    }
    print(json.dumps(total), flush=True)


if __name__ == "__main__":
    main()
