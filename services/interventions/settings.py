"""interventions's settings, declared (services/runtime/settings.py): read at start with every other
context's, listed by `learnflow settings` and in docs/settings.md (`make gen`)."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.settings import integer, number, text


@dataclass(frozen=True)
class InterventionsConfig:
    default_page_size: int = integer(
        "INTERVENTIONS_DEFAULT_PAGE_SIZE",
        50,
        "versions or decisions a List call returns when it asks for no page size",
        min=1,
        max=200,
    )
    policies_dir: str = text(
        "INTERVENTIONS_POLICIES_DIR",
        "policies",
        "the watched folder of policy files (*.md, *.yaml): every tenant's defaults; a file saved there "
        "is in force within INTERVENTIONS_RELOAD_SECONDS",
    )
    reload_seconds: float = number(
        "INTERVENTIONS_RELOAD_SECONDS",
        0.2,
        "how often the policies folder is looked at for changed files (modification time and size)",
        min=0.05,
        max=300,
    )
    daily_cap: int = integer(
        "INTERVENTIONS_DAILY_CAP",
        3,
        "interventions a student receives at most per day, in their time zone (seed FR4.5)",
        min=1,
        max=100,
    )
    student_channel: str = text(
        "INTERVENTIONS_STUDENT_CHANNEL",
        "moodle",
        "notify's channel for the messages to students (their Moodle inbox, seed FR1.1)",
    )
    teacher_channels: str = text(
        "INTERVENTIONS_TEACHER_CHANNELS",
        "in_app,moodle",
        "notify's channels, comma-separated, for teacher_alert: in-app and the teachers' LMS inbox",
    )
    sla_seconds: int = integer(
        "INTERVENTIONS_SLA_SECONDS",
        180,
        "an intervention delivered within this many seconds of its signal is SLA-compliant",
        min=1,
        max=86400,
    )
    sla_window_seconds: int = integer(
        "INTERVENTIONS_SLA_WINDOW_SECONDS",
        3600,
        "learnflow_intervention_sla_compliance_ratio covers the interventions of this trailing window",
        min=60,
        max=7 * 86400,
    )
    session_gap_minutes: float = number(
        "INTERVENTIONS_SESSION_GAP_MINUTES",
        10.0,
        "a student's work session (calm_break's work.session signal) ends when no activity event "
        "(sandbox run, hint, unclear question, struggle) came for longer than this; the next one starts "
        "a new session",
        min=0.05,
        max=24 * 60,
    )
