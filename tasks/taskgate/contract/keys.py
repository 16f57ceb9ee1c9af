"""Every name taskgate gives a Redis key or a channel-layer group, in one place."""

from __future__ import annotations


def group_name(job_id: str) -> str:
    """The channel-layer group a job's events are sent to."""
    return f"taskgate.job.{job_id}"


def seq_key(job_id: str) -> str:
    return f"taskgate:seq:{job_id}"


def progress_key(job_id: str) -> str:
    return f"taskgate:progress:{job_id}"


def parts_key(job_id: str) -> str:
    """A composite job's aggregate: its parts, their states and progress (JSON)."""
    return f"taskgate:parts:{job_id}"


def stalled_key(job_id: str) -> str:
    """Set by the gateway that found the job stalled: ``{"seq", "since", "ts"}`` (JSON); it
    holds only while no later state of the job was stored (its seq is the newest)."""
    return f"taskgate:stalled:{job_id}"


def record_key(job_id: str) -> str:
    return f"taskgate:job:{job_id}"


def lease_key(job_id: str) -> str:
    """Held (and renewed) by the worker process running the job."""
    return f"taskgate:lease:{job_id}"


# The jobs a worker has started and not ended (a sorted set, scored by start time): where
# the gateway's sweep looks for jobs whose worker died, watched or not.
RUNNING_KEY = "taskgate:running"

# Cluster-wide counters the workers add to (:mod:`taskgate.events.stats`).
STATS_KEY = "taskgate:stats"


def rate_key(owner: str) -> str:
    """A principal's shared submit bucket."""
    return f"taskgate:rate:submit:{owner}"
