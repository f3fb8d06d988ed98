"""`make bench`: every benchmark in turn. Run on a quiet machine; each writes bench/results/<name>.json."""

import subprocess
import sys

for name in (
    "cold_start",
    "getuser",
    "event_latency",
    "sandbox_exec",
    "progress",
    "tutoring",
    "jobs",
    "audit_trail",
    "notify_delivery",
    "alerting_latency",
    "mtss_year",
    "activity_monitor",
    "activity_latency",
    "interventions_policies",
    "interventions_decide",
    "interventions_pipeline",
    "workflows_runs",
    "console_pages",
):
    sys.stdout.write(f"\n== bench.{name}\n")
    sys.stdout.flush()
    subprocess.run([sys.executable, "-m", f"bench.{name}"], check=True)
