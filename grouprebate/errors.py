"""The failures no retry can fix: the data, the config or what was already published must
change first, so the task that meets one fails at once (grouprebate.alerts.fails_fast)."""

from __future__ import annotations


class PermanentError(RuntimeError):
    """Waiting cannot help: a person has to look (the message says at what)."""
