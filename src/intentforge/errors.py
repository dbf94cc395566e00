"""The one exception type for expected failures: its message tells the user what to do."""


class IntentforgeError(Exception):
    """An expected failure (bad input, missing file, dead upstream) with a human message.

    The CLI prints the message on one line and exits 2; the API answers it as JSON with
    `status_code`.
    """

    status_code: int = 400

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code


class ModelOutputError(IntentforgeError):
    """The model produced no valid intent within its token bound (never a made-up action)."""

    status_code = 422


class UpstreamError(IntentforgeError):
    """A service we call (LLM API, Todoist, Open-Meteo, SMTP) failed or did not answer in time."""

    status_code = 502
