"""OpenTelemetry tracing: one trace per job, from the submit to each state's delivery.

Off unless the environment configures it the way the OpenTelemetry SDK defines
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
``OTEL_TRACES_EXPORTER`` other than ``none``; ``OTEL_SDK_DISABLED=true`` wins) and the
``otel`` extra is installed. Off, every helper here returns at once and nothing of
OpenTelemetry is imported.

On, a job's trace is: ``taskgate.submit`` (gateway) > ``taskgate.dispatch`` >
``apply_async/<task>`` (the Celery instrumentation, which puts ``traceparent`` in the
message headers) > ``run/<task>`` (worker) > ``taskgate.store_and_push`` for each state the
worker stores and pushes > ``taskgate.deliver`` (each gateway process that hands the event
to its sockets; the pushed event carries the ``traceparent`` of its store-and-push span,
which the gateway takes off before the event goes to any socket). docs/tracing.md.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

# The field of a pushed event that carries its span's context from worker to gateway.
TRACEPARENT = "traceparent"

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_setup_pid: int | None = None
_on = False


def configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces (the SDK's own variables)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return bool(exporter) or any(env.get(name, "").strip() for name in endpoints)


def active() -> bool:
    """Whether this process traces (after :func:`setup`)."""
    return _on and _setup_pid == os.getpid()


def setup(service_name: str) -> bool:
    """Install the tracer provider, its exporter and the Celery instrumentation in this
    process, once (again in a forked child); returns whether tracing is on."""
    global _setup_pid, _on
    if _setup_pid == os.getpid():
        return _on
    with _lock:
        if _setup_pid == os.getpid():
            return _on
        _on = False
        if configured():
            try:
                _install(service_name)
                _on = True
            except ImportError as exc:
                logger.warning("OTEL_* asks for traces but taskgate[otel] is missing: %s", exc)
        _setup_pid = os.getpid()
    return _on


def _install(service_name: str) -> None:
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        exporter: Any = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    instrumentor = CeleryInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    logger.info("tracing on: service %s", resource.attributes.get(SERVICE_NAME))


def flush(timeout: float = 2.0) -> None:
    """Export the spans still buffered (a pool process about to exit)."""
    if not active():
        return
    from opentelemetry import trace

    provider: Any = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(int(timeout * 1000))


def _tracer() -> Any:
    from opentelemetry import trace

    return trace.get_tracer("taskgate")


@contextlib.contextmanager
def span(name: str, parent: Any = None, **attributes: Any) -> Iterator[Any]:
    """A span around the block, made current (None when tracing is off).

    ``parent``: a context from :func:`extract` (default: the current one).
    """
    if not active():
        yield None
        return
    clean = {f"taskgate.{key}": value for key, value in attributes.items() if value is not None}
    with _tracer().start_as_current_span(name, context=parent, attributes=clean) as current:
        yield current


def start_span(name: str, **attributes: Any) -> Any:
    """A span that the caller ends (``end_span``), not made current; None when off."""
    if not active():
        return None
    clean = {f"taskgate.{key}": value for key, value in attributes.items() if value is not None}
    return _tracer().start_span(name, attributes=clean)


def end_span(started: Any, error: BaseException | None = None) -> None:
    """End a span from :func:`start_span` (None: nothing), recording ``error`` if given."""
    if started is None:
        return
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        started.record_exception(error)
        started.set_status(Status(StatusCode.ERROR, str(error)))
    started.end()


@contextlib.contextmanager
def use_span(started: Any) -> Iterator[None]:
    """Make ``started`` (from :func:`start_span`, may be None) current, and end it after."""
    if started is None:
        yield
        return
    from opentelemetry import trace

    with trace.use_span(started, end_on_exit=True, record_exception=True):
        yield


def trace_id(started: Any) -> str | None:
    """The 32-hex-digit trace id of a span (None when off)."""
    if started is None:
        return None
    context = started.get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def inject(carrier: dict[str, Any]) -> None:
    """Put the current span's ``traceparent`` in ``carrier`` (a pushed event); off: nothing."""
    if not active():
        return
    from opentelemetry.propagate import inject as otel_inject

    fields: dict[str, str] = {}
    otel_inject(fields)
    if TRACEPARENT in fields:
        carrier[TRACEPARENT] = fields[TRACEPARENT]


def extract(traceparent: object) -> Any:
    """The context a ``traceparent`` names (None when off or absent)."""
    if not active() or not isinstance(traceparent, str):
        return None
    from opentelemetry.propagate import extract as otel_extract

    return otel_extract({TRACEPARENT: traceparent})


def job_parent(request: Any) -> Any:
    """The parent for a span of a job's own: the current span (the Celery instrumentation's
    ``run``) if there is one, else what the job's message headers carry (a timer thread)."""
    if not active():
        return None
    from opentelemetry import trace

    if trace.get_current_span().get_span_context().is_valid:
        return None
    from opentelemetry.instrumentation.celery import celery_getter
    from opentelemetry.propagate import extract as otel_extract

    return otel_extract(request, getter=celery_getter) or None


def traced(name: str, state: Callable[..., object]) -> Callable[[F], F]:
    """Run the decorated function in a span ``name`` (off: a plain call); ``state(*args,
    **kwargs)`` names the state it stores (an attribute)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not active():
                return func(*args, **kwargs)
            request = kwargs.get("request", args[1] if len(args) > 1 else None)
            parent = None if isinstance(request, str | None) else job_parent(request)
            with span(name, parent=parent, state=str(state(*args, **kwargs))):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
