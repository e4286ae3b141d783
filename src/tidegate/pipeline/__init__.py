"""The dispatch pipeline: the Gateway and the stages it composes."""

from tidegate.pipeline.gateway import HANDLED_VERDICTS, Gateway
from tidegate.pipeline.observer import DispatchObserver
from tidegate.pipeline.result import DispatchResult
from tidegate.pipeline.rulebook import RuleBook

__all__ = ["HANDLED_VERDICTS", "DispatchObserver", "DispatchResult", "Gateway", "RuleBook"]
