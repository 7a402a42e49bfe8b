"""Errors that end a run with one sentence for the operator, never a traceback."""


class BackfillConfigError(Exception):
    """A bad option or setting: the message says what to fix, and never holds a secret."""


class DestinationUnavailable(Exception):
    """The destination stopped answering after its retries: the run stops where it is."""


class Refused(Exception):
    """The run would do something the operator has not allowed: the message says how to allow it."""


class RunStopped(Exception):
    """A run began and could not finish: ``summary`` says what it did, the message what to do."""

    def __init__(self, message: str, summary):
        super().__init__(message)
        self.summary = summary
