import os
import sys
from collections import Counter
from typing import Any

import pytest

pytest_plugins = ["services.runtime.testing"]

# Before anything imports gRPC: tests fork with a preexec_fn (seccomp, rlimits) while gRPC threads
# are busy, and gRPC's fork handlers can then abort the child (services/runtime/cli.py says why).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

# The shared test mesh runs many sandbox calls as the same few users; the per-user rate limit has
# its own test on a mesh with small limits (tests/sandbox/test_sandbox_service.py).
os.environ.setdefault("SANDBOX_RUNS_PER_USER_PER_MINUTE", "100000")
# Likewise the questions a person may ask tutoring a minute (tests/tutoring checks the limit itself).
os.environ.setdefault("TUTORING_REQUESTS_PER_USER_PER_MINUTE", "100000")
# And the activities a person records (tests/progress/integration/test_progress_limits.py checks it).
os.environ.setdefault("PROGRESS_ACTIVITIES_PER_USER_PER_MINUTE", "100000")
# progress's periodic checks (activity drop, quiet period) every second, so a test sees them act.
os.environ.setdefault("PROGRESS_CHECK_INTERVAL_SECONDS", "1")
# notify: retries and read-receipt polls in fractions of a second, so a test sees a provider outage
# delay a message and a read reach the delivery log without waiting minutes.
os.environ.setdefault("NOTIFY_RETRY_BASE_SECONDS", "0.2")
os.environ.setdefault("NOTIFY_RETRY_MAX_SECONDS", "2")
os.environ.setdefault("NOTIFY_READ_POLL_SECONDS", "0.3")
# Password hashes still argon2id, at its lowest cost (13 ms of CPU for a hash and a login instead of
# 0.27 s): the suite creates and logs in users by the thousand. The production defaults are checked in
# tests/identity/unit/test_security.py; benchmarks (bench/) keep them.
os.environ.setdefault("IDENTITY_PASSWORD_HASH_TIME_COST", "1")
os.environ.setdefault("IDENTITY_PASSWORD_HASH_MEMORY_KIB", "8192")
os.environ.setdefault("IDENTITY_PASSWORD_HASH_PARALLELISM", "1")
# A planted secret: the sandbox abuse suite checks that programs cannot see the service's environment.
os.environ.setdefault(
    "LEARNFLOW_TEST_SECRET", "lf-test-secret-5d1c7a-do-not-leak"
)  # = abuse_cases.SECRET_VALUE


# --- parallel workers (pytest-xdist; `make test` runs `-n 3 --dist loadfile`) ----------------------------
#
# Each worker is a whole pytest session: it starts its own session mesh and `context_pg` on free ports,
# in folders of its own, when a test of it first asks. What must not be split across workers:
# - a module's tests: module fixtures (a browser, the scaffold's repository copy, a PostgreSQL per
#   module) would start once per worker, and some modules' tests run in an order that matters;
# - tests/workflows: one mesh with Temporal, the local Notion and model servers, and templates the
#   tests edit (tests/workflows/conftest.py), which a second worker would start again.
# So the unit of work a worker gets is its folder for SHARED_FOLDERS, else its file (`_group`).
SHARED_FOLDERS = ("tests/workflows/",)
# The longest groups (seconds of a run without workers, docs/testing.md) start first, so the run does
# not end with one worker alone on a long file that happened to come last; the rest keep their order.
# A name missing here, or one no longer slow, costs only some of that overlap.
START_FIRST = (
    "tests/workflows/",  # 143 s: one mesh with Temporal, workers killed and restarted
    "tests/runtime/integration/test_scaffold.py",  # 134 s: make gen, lint, mypy, pytest on a copy
    "tests/e2e/test_rest_through_envoy.py",  # 113 s
    "tests/runtime/integration/test_cli.py",  # 107 s: the CLI as subprocesses
    "tests/runtime/integration/test_worker_outages.py",  # 102 s: PostgreSQL and NATS restarted
    "tests/tutoring/integration/test_tutoring_llm.py",  # 80 s
    "tests/activity/integration/test_activity_mesh.py",  # 72 s
    "tests/mtss/integration/test_mtss_done_when.py",  # 66 s
    "tests/e2e/test_page_tokens.py",  # 61 s
    "tests/tutoring/integration/test_tutoring_agents_split.py",  # 60 s
)


def _group(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return next((folder for folder in SHARED_FOLDERS if path.startswith(folder)), path)


# optionalhook: the hook exists only with xdist loaded (`-p no:xdist` runs without it).
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, with tests/workflows as one unit. (Not `--dist loadgroup` with xdist_group
    marks: xdist 3.8 groups by rewriting `item._nodeid`, which pytest 9.2's nodeid no longer reads, so
    those marks are silently ignored.)"""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class GroupScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist (in each worker: workers collect, the controller does not), put the long groups
    first; xdist hands groups out in collection order with --no-loadscope-reorder. The order is a
    function of the collection alone, so every worker computes the same one (xdist checks that)."""
    if not hasattr(config, "workerinput"):
        return
    _give_each_test_its_own_id(items)
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(_group(item.nodeid), []).append(item)

    def rank(group: str) -> int:
        return next((i for i, g in enumerate(START_FIRST) if group.startswith(g)), len(START_FIRST))

    # sorted() is stable: within a rank, and within each group, the collection's order stays.
    items[:] = [item for group in sorted(groups, key=rank) for item in groups[group]]


def _give_each_test_its_own_id(items: list[pytest.Item]) -> None:
    """xdist's controller names tests by id: tests that share one would all run as the first of them.
    schemathesis 4.32 on pytest 9.2 makes one item per API operation, named `test[GET /v1/x]`, all
    with the bare id `test` (pytest 9.2 no longer derives the id from the name): put the operation
    back in the id, and refuse to run with any id still shared rather than run one test for many."""
    counts = Counter(item.nodeid for item in items)
    for item in items:
        _, bracket, params = item.name.partition("[")
        if counts[item.nodeid] > 1 and bracket and params.endswith("]") and "[" not in item.nodeid:
            item._id = item._id.with_params(params[:-1])  # type: ignore[attr-defined]
    shared = [nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1]
    if shared:
        raise pytest.UsageError(f"tests share an id, so xdist would run only one of each: {shared[:5]}")


def pytest_sessionstart(session: pytest.Session) -> None:
    """With workers, build the web console once, in the controller, before any worker starts: every
    worker's session mesh serves console/dist, and two `vite build`s writing it at once would leave a
    mixed tree. Without workers the session mesh builds it when it starts (only when its sources
    changed; a no-op otherwise)."""
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    from services.runtime.local import node

    node.build_console(progress=lambda line: sys.stderr.write(line + "\n"))
