"""The one exception tree of cinerec.

Every boundary translates these: the CLI prints one line and exits non-zero,
the web API answers ``{"error": {"code", "message", "details"}}`` with a 4xx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class CinerecError(Exception):
    """Base class of every error cinerec raises on purpose.

    Attributes:
        code: a stable, machine-readable error code (used by the API).
        details: optional structured details (field names, limits...).
    """

    code = "error"
    exit_code = 1

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class DataFormatError(CinerecError, ValueError):
    """A data file or payload is malformed.

    The message always names the file, the 1-based line and the field when
    they are known, e.g. ``ratings.csv:17: field 'rating': '7' is not in 0.5-5``.

    Args:
        message: what is wrong and how to fix it.
        path: the file, when the data came from a file.
        line: 1-based physical line number in that file.
        field: the column or field name.
    """

    code = "data_format"
    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = ""
        if self.path is not None:
            where = Path(self.path).name
            if line is not None:
                where += f":{line}"
            where += ": "
        what = f"field '{field}': " if field else ""
        full = f"{where}{what}{message}"
        det = dict(details or {})
        det.update({k: v for k, v in (("path", self.path), ("line", line), ("field", field)) if v is not None})
        super().__init__(full, details=det)


class NotFound(CinerecError, LookupError):
    """A requested object (user, movie, model, dataset) does not exist."""

    code = "not_found"
    exit_code = 3


class Gone(NotFound):
    """The object existed but was withdrawn for good (a revoked share link): HTTP 410."""

    code = "gone"


class Conflict(CinerecError):
    """The request conflicts with the current state (duplicate, stale version)."""

    code = "conflict"
    exit_code = 4


class PermissionDenied(CinerecError):
    """The caller is not allowed to do this."""

    code = "permission_denied"
    exit_code = 5


class AuthenticationFailed(CinerecError):
    """The caller is not logged in, or the credentials or session token are not valid.

    The message never says which part was wrong (unknown account or wrong password).
    """

    code = "unauthenticated"
    exit_code = 5


class RateLimited(CinerecError):
    """Too many attempts in the current window; retry after ``retry_after`` seconds."""

    code = "rate_limited"
    exit_code = 9

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, details={**(details or {}), "retry_after": self.retry_after})


class NotFittedError(CinerecError, RuntimeError):
    """A model was used before ``fit`` (or ``load``)."""

    code = "not_fitted"
    exit_code = 6


class ModelFitError(CinerecError, RuntimeError):
    """Training failed; the live model, if any, keeps serving."""

    code = "model_fit"
    exit_code = 7


class TrainingRefused(ModelFitError):
    """Training would need more memory than the limit allows, so it was not started.

    Raised before the data is loaded (from row counts and the model's own
    estimate), instead of letting the operating system kill the process; the
    message names the algorithm, the estimate, the limit and what to train instead.
    """

    code = "training_refused"
    exit_code = 10


class DownloadError(CinerecError):
    """A dataset could not be downloaded or failed its checksum."""

    code = "download"
    exit_code = 8


class InvalidParameter(CinerecError, ValueError):
    """A hyper-parameter, option or argument has an invalid value."""

    code = "invalid_parameter"
    exit_code = 2


class DataWarning(UserWarning):
    """Data was usable but suspicious (rows dropped, values clipped)."""
