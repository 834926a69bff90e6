"""The errors a user can cause: each ends a script with one line saying what to do and exit 2
(helper.cli.script.run_main). A leaf module, so that any module can raise them without import cycles."""


class UsageError(ValueError):
    """The flags ask for something that cannot be done; the message says what to change."""


class NoFeaturesError(UsageError):
    """A feature method asked for the intermediate features of a model that exposes none."""


class DatasetNotFoundError(FileNotFoundError):
    """A data set is not on disk; the message says where we looked and how to get it."""


class DatasetError(ValueError):
    """A data set on disk that cannot be used as it is; the message names the file or folder."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message is one line naming the file."""


class RunExistsError(RuntimeError):
    """The run folder already holds a finished run."""


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


USER_ERRORS = (UsageError, DatasetNotFoundError, DatasetError, CheckpointError, RunExistsError, NonFiniteLossError)
EXIT_USER_ERROR = 2
