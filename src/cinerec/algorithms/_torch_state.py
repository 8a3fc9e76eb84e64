"""What the torch-trained models share: :class:`TorchStateModel`.

The device choice, the trained network's ``state_dict`` saved beside the
artifact as plain arrays (``state_dict.npz``, read with ``allow_pickle=False``)
and the early-stopping summary. torch is imported only where a device is
chosen, so loading and serving these models needs numpy only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cinerec.algorithms.base import RecommenderBase
from cinerec.errors import InvalidParameter
from cinerec.fileio import atomic_open

__all__ = ["STATE_DICT", "TorchStateModel"]

STATE_DICT = "state_dict.npz"


class TorchStateModel(RecommenderBase):
    """Base of the models trained with PyTorch (the neural two-tower, Mult-VAE).

    Subclasses keep ``device`` as a hyper-parameter and, after fitting,
    ``best_epoch_``, ``validation_ndcg_`` (and ``explained_variance_`` when
    they read content) and the network's weights in ``_state_dict``.
    """

    device: str
    _state_dict: dict[str, np.ndarray]

    def _check_device(self) -> None:
        """Validate ``device`` before any fitting starts.

        Raises:
            InvalidParameter: not ``cpu``, ``cuda`` or ``auto``.
        """
        if self.device not in ("cpu", "cuda", "auto"):
            raise InvalidParameter(f"device must be cpu, cuda or auto, not {self.device!r}")

    def _torch_device(self) -> Any:
        """The ``torch.device`` for ``self.device`` (``auto``: CUDA when torch sees one).

        Raises:
            InvalidParameter: ``cuda`` was asked for without a CUDA device.
        """
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise InvalidParameter("device 'cuda' was asked for but torch sees no CUDA device; use --device cpu")
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def learned_summary(self) -> dict[str, Any]:
        """Best epoch, its validation NDCG@10 and the content SVD's explained variance."""
        self._check_fitted()
        return {"best_epoch": int(getattr(self, "best_epoch_", 0)),
                "validation_ndcg": round(float(getattr(self, "validation_ndcg_", 0.0)), 4),
                "content_explained_variance": round(float(getattr(self, "explained_variance_", 0.0)), 4)}

    def _save_extra(self, folder: Path) -> dict[str, str]:
        from cinerec.algorithms.persist import sha256_file

        path = folder / STATE_DICT
        with atomic_open(path) as fh:
            np.savez(fh, **getattr(self, "_state_dict", {}))
        return {STATE_DICT: sha256_file(path)}

    def _load_extra(self, folder: Path) -> None:
        with np.load(folder / STATE_DICT, allow_pickle=False) as z:
            self._state_dict = {k: z[k] for k in z.files}

    def state_dict(self) -> dict[str, np.ndarray]:
        """The trained network's parameters as numpy arrays (``torch.as_tensor`` each to reload them)."""
        self._check_fitted()
        return dict(self._state_dict)
