"""Background work: the supervisor and the loops it runs."""

from tidegate.workers.supervisor import Loop, Supervisor

__all__ = ["Loop", "Supervisor"]
