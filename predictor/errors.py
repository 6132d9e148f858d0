"""The errors a user can see. Each says, in one line, what went wrong and where.

The CLI maps every :class:`PredictorError` to exit status 1 with its message; the daemon maps
each to a typed error reply (``code`` below) and keeps serving.
"""

from __future__ import annotations


class PredictorError(Exception):
    """Something the user can act on; the message is shown as is."""

    code = "internal"


class StoreError(PredictorError):
    """The history store cannot be opened or written (locked, corrupt, wrong version)."""

    code = "store_error"


class IngestError(PredictorError):
    """A record in an input file is invalid; names the file, line or row, field, expected and found."""

    code = "invalid_input"

    def __init__(
        self,
        path: str,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
        expected: str | None = None,
        found: object = None,
        record_id: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.expected = expected
        self.found = found
        self.record_id = record_id
        self.detail = message
        where = self.path if line is None else f"{self.path}:{line}"
        parts = [f"{where}: {message}"]
        if field is not None:
            parts.append(f"field {field!r}")
        if expected is not None:
            parts.append(f"expected {expected}")
        if found is not None:
            parts.append(f"found {found!r}")
        super().__init__("; ".join(parts))


class UnknownFormatError(IngestError):
    """The file's content matches none of the formats ingest understands."""


class ValidationError(PredictorError):
    """A request or command argument has the wrong type or value; names the field."""

    code = "invalid_params"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class NotFoundError(PredictorError):
    """A named thing (service, deployment, model version) does not exist."""

    code = "not_found"


class ModelNotReadyError(PredictorError):
    """No trained model is available for this question yet (run `predictor train`)."""

    code = "model_unavailable"


class ModelFileError(PredictorError):
    """A model artifact is missing, not a skops file, or holds types outside the trusted list."""

    code = "model_invalid"


class OutputExistsError(PredictorError):
    """An output file already exists and writing would replace it (pass --force to replace)."""

    code = "output_exists"


class DaemonUnavailableError(PredictorError):
    """The daemon did not answer within the timeout (not running, or overloaded)."""

    code = "unavailable"


class RemoteError(PredictorError):
    """The daemon answered with an error reply; carries its code, message and field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        self.code = code
        self.field = field
        super().__init__(f"{code}: {message}" + (f" (field {field})" if field else ""))


class EndpointError(PredictorError):
    """The daemon cannot listen on this endpoint (transport, non-loopback address, or in use)."""

    code = "invalid_endpoint"


class KeyFileError(PredictorError):
    """A CurveZMQ key file or directory is missing or not a zmq.auth certificate."""

    code = "invalid_key"
