"""Why a failed task cannot be retried; each message tells the operator what to do."""


class RetryRefused(Exception):
    """This task result cannot be sent again."""


class NotFailed(RetryRefused):
    pass


class UnknownTask(RetryRefused):
    pass


class NotRetryable(RetryRefused):
    pass


class AlreadyRetried(RetryRefused):
    pass


class ArgumentsUnavailable(RetryRefused):
    pass


class NeedsConfirmation(RetryRefused):
    """Retrying may repeat something that already happened; an operator must say so."""
