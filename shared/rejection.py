"""The error a rule raises to refuse a command; the messaging kernel turns it into `<area>.command_rejected`."""


class CommandRejectedError(Exception):
    """A command broke a rule: `code` is the Partner Center code where one exists, else an UPPER_SNAKE name."""

    code = "INVALID_COMMAND"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)
