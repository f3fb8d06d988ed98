"""is_outage tells "a dependency could not be reached" from "this piece of work is wrong": only the
first may hold a consumer's batch without spending a delivery (the consumer also probes the database)."""

from __future__ import annotations

import nats.errors
import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from services.runtime.errors import InvalidArgument, Unavailable
from services.runtime.supervisor import is_outage, lease_key


def _caused_by(cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        Unavailable("the database is unavailable; try again shortly"),
        psycopg.OperationalError("connection is bad"),
        sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("server closed the connection")),
        ConnectionRefusedError(111, "Connection refused"),
        nats.errors.ConnectionClosedError(),
        nats.errors.TimeoutError(),
        _caused_by(psycopg.OperationalError("terminating connection due to administrator command")),
    ],
)
def test_unreachable_dependencies_are_outages(error):
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        InvalidArgument("bad event"),
        ValueError("no such enum value"),
        KeyError("user"),
        sa_exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")),
        psycopg.errors.UndefinedTable("relation does not exist"),
        _caused_by(ValueError("bad payload")),
    ],
)
def test_failures_of_the_work_itself_are_not(error):
    assert not is_outage(error)


def test_lease_keys_are_stable_signed_64_bit_and_distinct():
    assert lease_key("progress-checks") == lease_key("progress-checks")
    assert lease_key("progress-checks") != lease_key("progress-check")
    assert -(2**63) <= lease_key("progress-checks") < 2**63
