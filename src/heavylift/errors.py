"""Small project exceptions. Only the CLI turns them into messages and exit codes."""


class HeavyliftError(Exception):
    """A failure the user can act on; its message is one line saying what to do."""

    exit_code = 1


class UsageError(HeavyliftError):
    """Bad input: a flag, a name, a number."""

    exit_code = 2


class ModelError(HeavyliftError):
    """A model file or name that cannot be used."""


class UnknownModelError(ModelError):
    """A model name that is not stored: bad input, like a bad flag."""

    exit_code = 2


class GGUFError(ModelError):
    """A file that is not a readable GGUF."""


class SetupError(HeavyliftError):
    """Building or installing the engine or the default model failed."""


class EngineError(HeavyliftError):
    """The engine could not be started, reached or kept running."""


class EndpointError(EngineError):
    """An HTTP endpoint is down or answered with an error. `status_code` is the HTTP status when it
    answered (None: no answer); `is_timeout` when no answer came within the client's timeout."""

    def __init__(self, message: str, status_code: int | None = None, is_timeout: bool = False):
        super().__init__(message)
        self.status_code = status_code
        self.is_timeout = is_timeout
