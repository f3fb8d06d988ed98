"""workflows's settings, declared (services/runtime/settings.py): read at start with every other
context's, listed by `learnflow settings` and in docs/settings.md (`make gen`)."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.settings import flag, integer, number, text, url


@dataclass(frozen=True)
class WorkflowsConfig:
    default_page_size: int = integer(
        "WORKFLOWS_DEFAULT_PAGE_SIZE",
        50,
        "runs ListWorkflowRuns returns when it asks for no page size",
        min=1,
        max=200,
    )
    temporal_address: str = text(
        "TEMPORAL_ADDRESS",
        "127.0.0.1:7233",
        "the Temporal frontend (host:port); `learnflow up` starts a dev server and sets it unless it is set",
    )
    temporal_namespace: str = text("TEMPORAL_NAMESPACE", "default", "the Temporal namespace of the runs")
    task_queue: str = text("WORKFLOWS_TASK_QUEUE", "learnflow-workflows", "the Temporal task queue")
    templates_dir: str = text(
        "WORKFLOWS_TEMPLATES_DIR",
        "",
        "the folder of workflow templates (*.yaml), read again when a file changes; empty: the built-in ones",
    )
    notion_url: str = url(
        "WORKFLOWS_NOTION_URL",
        "",
        "Notion's API base (https://api.notion.com); empty: a local Notion server in this process",
        schemes=("http", "https"),
    )
    notion_token: str = text("WORKFLOWS_NOTION_TOKEN", "", "Notion integration token", secret=True)
    notion_research_folder: str = text(
        "WORKFLOWS_NOTION_RESEARCH_FOLDER",
        "learnflow-research",
        "the Notion database research pages go to (templates read it as env.NOTION_RESEARCH_FOLDER)",
    )
    slack_channel: str = text(
        "WORKFLOWS_SLACK_CHANNEL", "research", "the default Slack channel (templates: env.SLACK_CHANNEL)"
    )
    slack_template: str = text(
        "WORKFLOWS_SLACK_TEMPLATE",
        "workflow-research",
        "the notify template (of the run's tenant) Slack steps are sent with; variables text, channel, topic",
    )
    step_timeout_seconds: float = number(
        "WORKFLOWS_STEP_TIMEOUT_SECONDS",
        30.0,
        "one attempt of a step at most; a worker that dies mid-step is retried after this",
        min=1,
        max=3600,
    )
    heartbeat_seconds: float = number(
        "WORKFLOWS_HEARTBEAT_SECONDS",
        5.0,
        "a running step heartbeats three times in this; a step whose worker died is retried after it",
        min=0.5,
        max=600,
    )
    sticky_timeout_seconds: float = number(
        "WORKFLOWS_STICKY_TIMEOUT_SECONDS",
        10.0,
        "how long a run's next workflow task waits for the worker that has the run cached before any "
        "worker may take it: what a worker that died costs each of its runs",
        min=0.5,
        max=600,
    )
    local_activities: bool = flag(
        "WORKFLOWS_LOCAL_ACTIVITIES",
        False,
        "run steps as local activities (in the worker that runs the workflow): less Temporal work per run, "
        "but a cancel waits for the running step and a dead worker's step for the workflow task timeout",
    )
    start_attempts: int = integer(
        "WORKFLOWS_START_ATTEMPTS",
        14,
        "attempts to start a run on Temporal (full-jitter backoff from 1 s doubling up to 60 s: 14 "
        "span up to eight minutes) before the run is failed 'not started'",
        min=1,
        max=1000,
    )
    step_attempts: int = integer(
        "WORKFLOWS_STEP_ATTEMPTS", 6, "attempts of a step before the run fails", min=1, max=50
    )
    retry_initial_seconds: float = number(
        "WORKFLOWS_RETRY_INITIAL_SECONDS", 0.2, "the first retry's delay (then doubling)", min=0.01, max=60
    )
    retry_maximum_seconds: float = number(
        "WORKFLOWS_RETRY_MAXIMUM_SECONDS", 10.0, "the retry delay's cap", min=0.1, max=3600
    )
    runs_per_user_per_hour: int = integer(
        "WORKFLOWS_RUNS_PER_USER_PER_HOUR",
        10,
        "runs one user may trigger an hour (the seed's 10)",
        min=1,
        max=1_000_000,
    )
    runs_per_tenant_per_hour: int = integer(
        "WORKFLOWS_RUNS_PER_TENANT_PER_HOUR",
        1000,
        "runs one tenant may trigger an hour",
        min=1,
        max=10_000_000,
    )
    tenant_daily_quota: int = integer(
        "WORKFLOWS_TENANT_DAILY_QUOTA",
        10_000,
        "runs one tenant may start a day (UTC)",
        min=1,
        max=100_000_000,
    )
    model_tokens_per_user_per_day: int = integer(
        "WORKFLOWS_MODEL_TOKENS_PER_USER_PER_DAY",
        200_000,
        "model tokens (the provider's usage, from the ledger) one user's runs may spend a day (UTC) "
        "before their next trigger is refused with 429",
        min=1,
        max=10_000_000_000,
    )
    tenant_daily_model_tokens: int = integer(
        "WORKFLOWS_TENANT_DAILY_MODEL_TOKENS",
        5_000_000,
        "model tokens one tenant's runs may spend a day (UTC) before its next trigger is refused with 429",
        min=1,
        max=100_000_000_000,
    )
    local_notion_port: int = integer(
        "WORKFLOWS_LOCAL_NOTION_PORT",
        0,
        "port of the in-process local Notion (when WORKFLOWS_NOTION_URL is empty); 0: any free port",
        min=0,
        max=65535,
    )
