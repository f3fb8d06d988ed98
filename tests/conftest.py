import os

pytest_plugins = ["services.runtime.testing"]

# The shared test mesh runs many sandbox calls as the same few users; the per-user rate limit has
# its own test on a mesh with small limits (tests/sandbox/test_sandbox_service.py).
os.environ.setdefault("SANDBOX_RUNS_PER_USER_PER_MINUTE", "100000")
# progress's periodic checks (activity drop, quiet period) every second, so a test sees them act.
os.environ.setdefault("PROGRESS_CHECK_INTERVAL_SECONDS", "1")
# notify: retries and read-receipt polls in fractions of a second, so a test sees a provider outage
# delay a message and a read reach the delivery log without waiting minutes.
os.environ.setdefault("NOTIFY_RETRY_BASE_SECONDS", "0.2")
os.environ.setdefault("NOTIFY_RETRY_MAX_SECONDS", "2")
os.environ.setdefault("NOTIFY_READ_POLL_SECONDS", "0.3")
# A planted secret: the sandbox abuse suite checks that programs cannot see the service's environment.
os.environ.setdefault(
    "LEARNFLOW_TEST_SECRET", "lf-test-secret-5d1c7a-do-not-leak"
)  # = abuse_cases.SECRET_VALUE
