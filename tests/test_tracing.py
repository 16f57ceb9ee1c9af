"""One trace per job: gateway and worker, real processes, export OTLP (http/protobuf) to a
receiver this test runs; one job's spans form one tree across both processes."""

from __future__ import annotations

from tests.fault_stack import FaultStack
from tests.otlp_receiver import Span, otlp_receiver
from tests.support import client, record_measurement


def _otel_env(endpoint: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within 0.1 s, not 5 s
    }


def _complete(spans: list[Span], trace_id: str) -> bool:
    names = {(s.service, s.name, s.attributes.get("taskgate.state")) for s in spans}
    delivered = {s.attributes.get("taskgate.event") for s in spans if s.name == "taskgate.deliver"}
    ours = [s for s in spans if s.trace_id == trace_id]
    ids = {s.span_id for s in ours}
    # A parent ends (and is exported) after its children: wait for every one of them too.
    return (
        ("taskgate-worker", "taskgate.store_and_push", "success") in names
        and {"running", "progress", "success"} <= delivered
        and len({s.service for s in ours}) == 2
        and all(s.parent_id in ids for s in ours if s.parent_id)
    )


def test_one_job_is_one_trace_across_gateway_and_worker(stack: FaultStack) -> None:
    with otlp_receiver() as receiver:
        env = _otel_env(receiver.url)
        stack.worker("worker", concurrency=1, env=env)
        gateway = stack.gateway("gateway", env=env)
        with client(f"{gateway.ws}/ws/jobs/") as c:
            accepted = c.request(
                {"op": "submit", "job": "demo.echo", "params": {"task_id": 7, "seconds": 0.5}}
            )
            assert accepted["event"] == "accepted"
            trace_id = accepted["trace_id"]
            assert len(trace_id) == 32
            assert int(trace_id, 16)
            frames = c.until_terminal(accepted["job_id"])
        assert frames[-1]["event"] == "success"
        assert not any("traceparent" in f for f in c.received)  # taken off before sockets

        spans = receiver.wait_for(lambda found: _complete(found, trace_id), timeout=30)

    ours = [s for s in spans if s.trace_id == trace_id]
    by_id = {s.span_id: s for s in ours}
    roots = [s for s in ours if not s.parent_id]
    assert [(r.service, r.name) for r in roots] == [("taskgate-gateway", "taskgate.submit")]
    assert all(s.parent_id in by_id for s in ours if s.parent_id), "a parent is missing"

    def chain(span: Span) -> list[str]:
        names = []
        while span.parent_id:
            span = by_id[span.parent_id]
            names.append(span.name)
        return names

    # The worker's run hangs under the gateway's dispatch (traceparent in Celery's headers).
    run = next(s for s in ours if s.name.startswith("run/"))
    assert run.service == "taskgate-worker"
    assert chain(run)[-2:] == ["taskgate.dispatch", "taskgate.submit"]
    assert any(name.startswith("apply_async/") for name in chain(run))
    # Each state the worker stored and pushed is a span under the run, and each delivery to
    # the sockets of the gateway is a span under the store-and-push of its state.
    stored = {s.attributes["taskgate.state"] for s in ours if s.name == "taskgate.store_and_push"}
    assert {"started", "progress", "success"} <= stored
    for deliver in (s for s in ours if s.name == "taskgate.deliver"):
        assert deliver.service == "taskgate-gateway"
        parent = by_id[deliver.parent_id]
        assert parent.name == "taskgate.store_and_push"
        assert parent.service == "taskgate-worker"
        assert parent.parent_id == run.span_id
    record_measurement("tracing: spans in one demo.echo trace (0.5 s, 2 steps)", len(ours), "")
