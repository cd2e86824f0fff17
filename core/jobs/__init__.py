"""Background training jobs for the dashboard: :mod:`.job` (one run in a thread) and
:mod:`.admission` (admission control, owners and heartbeats, the process-wide manager)."""

from .job import HISTORY_CAP, STATUSES, Job, JobSnapshot, classify_error
from .admission import Busy, JobManager, default_max_jobs, manager

__all__ = ["Busy", "HISTORY_CAP", "Job", "JobManager", "JobSnapshot", "STATUSES", "classify_error",
           "default_max_jobs", "manager"]
