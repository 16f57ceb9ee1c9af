"""Submitting (taskgate.jobs.submit) in this process, against the private Redis as broker.

Errors say what happened: a composite whose plan cannot run is an error of that job (it is
accepted and ends as ``failure`` with the plan's error), not ``unavailable``. (A broker that
cannot be reached is ``unavailable``: tests/test_errors.py, against a Redis that is down.)
"""

from __future__ import annotations

import asyncio
import uuid

from pydantic import BaseModel

from taskgate.auth.principal import Principal
from taskgate.contract.states import JobState, State
from taskgate.delivery.runtime import get_runtime
from taskgate.jobs import submit
from taskgate.worker.composite import PartResult, Plan, composite


class NoParams(BaseModel):
    pass


def _broken_plan(params: NoParams) -> Plan:
    raise KeyError("a bug in the plan")


@composite("tests.broken_plan", params=NoParams, description="Its plan raises.", plan=_broken_plan)
def broken(params: NoParams, parts: list[PartResult]) -> None:
    raise AssertionError("never merged")


async def _submit(job: str) -> tuple[str, JobState]:
    runtime = get_runtime()
    try:
        principal = Principal(f"user:submit-{uuid.uuid4().hex[:8]}")
        spec, params = submit.validate(job, {})
        submission = await submit.prepare(principal, spec, params)
        await submit.dispatch(submission, principal)
        return submission.job_id, await runtime.store.state(submission.job_id)
    finally:
        await runtime.stop()


def test_a_plan_that_cannot_run_fails_its_job_instead_of_blaming_the_broker(
    base_env: dict[str, str],
) -> None:
    from taskgate.models import Job

    job_id, state = asyncio.run(_submit("tests.broken_plan"))
    assert state.state is State.FAILURE
    assert state.error is not None
    assert state.error["type"] == "CompositeError"
    assert "a bug in the plan" in state.error["message"]
    row = Job.objects.get(id=job_id)
    assert (row.state, row.finished is not None) == ("failure", True)
