"""LlmSettings.from_env: defaults, per-agent overrides, and every problem reported together."""

from __future__ import annotations

import pytest

from services.runtime.settings import SettingsError
from services.tutoring.providers import LlmSettings, from_env
from services.tutoring.providers.settings import AGENTS


def test_defaults_are_offline():
    s = from_env({})
    assert s.base_url == "https://api.openai.com/v1"
    assert s.api_key == ""
    assert not s.enabled
    assert dict(s.models) == dict.fromkeys(AGENTS, "gpt-4o-mini")
    assert (s.timeout_seconds, s.max_attempts, s.breaker_failures, s.breaker_reset_seconds) == (
        10.0,
        3,
        5,
        30.0,
    )


def test_key_model_overrides_and_limits():
    s = LlmSettings.from_env(
        {
            "OPENAI_BASE_URL": "http://127.0.0.1:8080/v1",
            "OPENAI_API_KEY": "sk-test",
            "TUTORING_MODEL": "small-model",
            "TUTORING_MODEL_CODE_REVIEW": "big-model",
            "TUTORING_LLM_TIMEOUT_SECONDS": "2.5",
            "TUTORING_LLM_MAX_ATTEMPTS": "5",
            "TUTORING_LLM_BREAKER_FAILURES": "7",
            "TUTORING_LLM_BREAKER_RESET_SECONDS": "60",
        }
    )
    assert s.enabled
    assert s.base_url == "http://127.0.0.1:8080/v1"
    assert s.models["code_review"] == "big-model"
    assert s.models["triage"] == s.models["exercise"] == "small-model"
    assert (s.timeout_seconds, s.max_attempts, s.breaker_failures, s.breaker_reset_seconds) == (
        2.5,
        5,
        7,
        60.0,
    )


def test_blank_key_is_disabled():
    assert not from_env({"OPENAI_API_KEY": "   "}).enabled
    assert not LlmSettings("http://x/v1", "", {}).enabled


def test_every_problem_is_reported_together():
    with pytest.raises(SettingsError) as err:
        from_env(
            {
                "OPENAI_BASE_URL": "ftp://example.com",
                "TUTORING_MODEL_DEBUG": "  ",
                "TUTORING_MODEL_DEBUGGER": "gpt-x",
                "TUTORING_LLM_TIMEOUT_SECONDS": "soon",
                "TUTORING_LLM_MAX_ATTEMPTS": "0",
                "TUTORING_LLM_BREAKER_FAILURES": "many",
                "TUTORING_LLM_BREAKER_RESET_SECONDS": "-1",
            }
        )
    problems = err.value.problems
    assert len(problems) == 7, problems
    text = str(err.value)
    for name in (
        "OPENAI_BASE_URL",
        "TUTORING_MODEL_DEBUG:",
        "TUTORING_MODEL_DEBUGGER: unknown agent",
        "TUTORING_LLM_TIMEOUT_SECONDS='soon'",
        "TUTORING_LLM_MAX_ATTEMPTS='0'",
        "TUTORING_LLM_BREAKER_FAILURES='many'",
        "TUTORING_LLM_BREAKER_RESET_SECONDS='-1'",
    ):
        assert name in text
