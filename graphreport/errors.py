"""Error types with user-facing messages. The CLI prints ``str(error)`` on one line and exits with ``code``."""
from __future__ import annotations


class GraphReportError(Exception):
    code = 2

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class BadModelError(GraphReportError):
    """The file is not a model we can read, or is damaged (exit code 2)."""


class UsageError(GraphReportError):
    """The command line asks for something impossible (exit code 2)."""


class LimitError(BadModelError):
    """The file asks for more memory or time than a report may take (exit code 2)."""


class ConversionError(GraphReportError):
    """The converter refused the model (exit code 3)."""
    code = 3
