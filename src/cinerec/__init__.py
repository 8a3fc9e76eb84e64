"""cinerec: a self-hostable movie sharing and recommendation platform.

Importing :mod:`cinerec` is cheap: it never imports torch, fastapi or pyspark.
The engine lives in :mod:`cinerec.data`, :mod:`cinerec.algorithms` and
:mod:`cinerec.evaluation`; the product in :mod:`cinerec.store`,
:mod:`cinerec.service`, :mod:`cinerec.web` and :mod:`cinerec.cli`.
"""

from cinerec.errors import (
    CinerecError,
    Conflict,
    DataFormatError,
    ModelFitError,
    NotFittedError,
    NotFound,
    PermissionDenied,
)

__version__ = "0.1.0"

__all__ = [
    "CinerecError",
    "Conflict",
    "DataFormatError",
    "ModelFitError",
    "NotFittedError",
    "NotFound",
    "PermissionDenied",
    "__version__",
]
