"""Refused commands: a French message safe to show and the HTTP status a program receives."""
from __future__ import annotations

class EngineError(Exception):
    """A command was refused; `message` is French and safe to show, `status` the HTTP code."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class Conflict(EngineError):
    """Someone else changed the instance meanwhile, or the task is already done."""

    status = 409


class HandlerError(EngineError):
    """A service-task handler failed; the whole command is rolled back."""

    status = 502
