"""The statuses of a stage and of a pipeline run (string values: the lower-case names)."""

from __future__ import annotations

import enum


class StageStatus(enum.Enum):
    """The state of one stage in one run."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class PipelineStatus(enum.Enum):
    """The state of one pipeline run."""

    CREATED = "created"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
