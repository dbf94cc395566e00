"""Actions: turn a validated intent call into a real effect (Todoist, Open-Meteo, SMTP) safely."""

from intentforge.actions.base import ActionContext, Executor
from intentforge.actions.result import ActionResult, ActionStatus, Plan, joined_reply
from intentforge.actions.runner import EXECUTORS, NONE_REPLY, ActionRunner, act, executor_for

__all__ = [
    "EXECUTORS",
    "NONE_REPLY",
    "ActionContext",
    "ActionResult",
    "ActionRunner",
    "ActionStatus",
    "Executor",
    "Plan",
    "act",
    "executor_for",
    "joined_reply",
]
