"""Errors that end a run with one sentence for the operator, never a traceback."""


class BackfillConfigError(Exception):
    """A bad option or setting: the message says what to fix, and never holds a secret."""


class ServiceUnavailable(Exception):
    """A service the run needs stopped answering: the run stops where it is, and says so."""


class DestinationUnavailable(ServiceUnavailable):
    """The destination stopped answering after its retries."""


class PlatformDatabaseUnavailable(ServiceUnavailable):
    """A database of the platform (users, courses) or of this app stopped answering mid-run."""


class Refused(Exception):
    """The run would do something the operator has not allowed: the message says how to allow it."""


class RunStopped(Exception):
    """A run began and could not finish: ``summary`` says what it did, the message what to do."""

    def __init__(self, message: str, summary):
        super().__init__(message)
        self.summary = summary
