"""Item-based AutoRec (Sedhain, Menon, Sanner and Xie 2015): :class:`AutoRec`.

Each film's vector of (standardised) ratings over the users is encoded by a
sigmoid layer and decoded by a linear layer with one output per user; the
loss counts only the observed ratings. The decoder makes the fitted model a
latent-factor model: ``r_ui = mu + b_u + V_u . h_i`` with ``h_i`` the film's
encoding and ``(V_u, b_u)`` the user's output row, so serving is numpy only
(:class:`~cinerec.algorithms.mf.BiasedMF`'s scoring) and a history the model
was not trained on gets its own output row by the ridge fold-in of
:class:`~cinerec.algorithms._latent.LatentFoldIn` against the fixed film
encodings, the same regularised least squares that training solves for a
user's row. torch is imported only inside :meth:`AutoRec.fit`; the encoder is kept
(``encoder_weight_``, ``encoder_bias_``) with the rest of the learned state.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from cinerec.algorithms._latent import FoldInBlock
from cinerec.algorithms.base import FloatArray, IntArray
from cinerec.algorithms.mf import _FactorModel, _standardisation
from cinerec.data.interactions import Interactions
from cinerec.errors import DataFormatError, InvalidParameter, ModelFitError

#: Share of the films x users cells rated below which training runs on sparse input (measured on ML-100K: a dense
#: step costs about 0.16 microseconds a cell, a sparse one about 10 a rating).
SPARSE_BELOW = 0.015


class AutoRec(_FactorModel):
    """I-AutoRec: a one-hidden-layer autoencoder of each film's ratings, trained on the observed ones only.

    On the standardised ratings ``z = (r - mean) / std`` the network
    computes, for film ``i`` with input vector ``x_i`` over the users
    (``x_ui = z_ui + input_offset`` where ``u`` rated ``i``, 0 elsewhere)::

        h_i = sigmoid(W x_i + c)          (n_factors hidden units)
        zhat_ui = V_u . h_i + b_u + d_i   (one output per user)

    and minimises ``sum_observed (z_ui - zhat_ui)^2 + reg (|W|^2 + |V|^2) +
    reg_bias (|b|^2 + |d|^2)`` by full-batch L-BFGS. A random
    ``validation_fraction`` of the ratings is held out (from the loss and
    from the inputs); the iteration count with the lowest validation RMSE,
    checked every ``check_every`` iterations, is kept, and with ``refit``
    the network is then trained again on every rating for that many
    iterations.

    Three departures from the paper, each measured on ML-100K (an inner
    80/20 split of u1.base): the input offset lets the encoder tell a
    rating at the mean from a missing one, so it reads who rated a film as
    well as how (as raw 1-5 stars with 0 for missing do, but on any scale):
    validation RMSE 0.923 -> 0.893; the output biases are regularised, so
    a member with one or two ratings is not predicted by those alone; and
    a film bias ``d_i`` carries each film's mean, which the weight penalty
    would otherwise shrink away through ``W``. The penalties are in the
    units of a sum of squared standardised errors, so they mean the same
    on any rating scale.

    The fitted state is stored on the rating scale as a factor model:
    ``item_factors_`` the encodings ``h_i`` (of every training rating),
    ``user_factors_`` and ``user_bias_`` the output rows (times ``std``)
    less their mean over the trained users, and ``item_bias_`` the film
    bias plus that mean user's term ``mean(V) . h_i + mean(b)``, which is
    what a user the model does not know gets.

    Args:
        n_factors: hidden units (the dimension of the film encodings).
        reg: L2 penalty on the encoder and decoder weights.
        reg_bias: L2 penalty on the user and film biases.
        max_iter: most L-BFGS iterations.
        input_offset: added to an observed standardised rating in the encoder's input (missing ones are 0).
        check_every: iterations between validation checks.
        patience: checks without improvement before stopping.
        validation_fraction: share of the ratings held out for early stopping (0: none, train ``max_iter``).
        refit: retrain on every rating for the best iteration count.
        random_state: seed of the initialisation and the held-out ratings.

    Attributes:
        best_iter_: the iteration count kept (the one trained for).
        validation_rmse_: the held-out RMSE at ``best_iter_`` (in rating units; NaN without validation).
    """

    name: ClassVar[str] = "autorec"

    def __init__(self, n_factors: int = 300, reg: float = 150.0, reg_bias: float = 5.0, max_iter: int = 300,
                 input_offset: float = 6.0, check_every: int = 10, patience: int = 3, validation_fraction: float = 0.1,
                 refit: bool = True, random_state: int | None = 42) -> None:
        self.n_factors = n_factors
        self.reg = reg
        self.reg_bias = reg_bias
        self.max_iter = max_iter
        self.input_offset = input_offset
        self.check_every = check_every
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.random_state = random_state

    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit`: dense ``films x users`` float32 matrices, or per-rating rows on sparse data.

        Dense (at least :data:`SPARSE_BELOW` of the cells rated): the input,
        its mask, and every intermediate of the decoder's output kept for the
        backward pass with its gradient, about 24 float32 matrices of
        ``n_items x n_users`` (measured on ML-100K u1.base: 273 MB of resident
        growth, 214 MB estimated). Sparse: the encodings gathered at every
        rating and at the users' output rows, with their products and
        gradients, about six float32 ``n_ratings x n_factors`` arrays. Both: the hidden layer and
        its gradient (``n_items x n_factors``); the weights ``(users x
        n_factors)`` with their gradients, L-BFGS's ten pairs of history and
        the best state's copy; per rating the index arrays and splits.
        """
        cells = int(n_items) * int(n_users)
        k = int(self.n_factors)
        weights = (2 * int(n_users) + 1) * k + int(n_users)
        work = 96 * cells if int(n_ratings) >= SPARSE_BELOW * cells else 24 * k * int(n_ratings)
        return work + 16 * int(n_items) * k + 4 * 26 * weights + 64 * int(n_ratings) + 64 * (int(n_users) + int(n_items))

    def _check_params(self) -> None:
        if self.n_factors < 1 or self.max_iter < 1 or self.check_every < 1 or self.patience < 1:
            raise InvalidParameter("n_factors, max_iter, check_every and patience must be >= 1")
        if not (self.reg >= 0 and self.reg_bias >= 0):
            raise InvalidParameter("reg and reg_bias must be >= 0")
        if not 0 <= self.validation_fraction < 1:
            raise InvalidParameter("validation_fraction must be in [0, 1)")

    def fit(self, data: Interactions) -> Self:
        """Train the autoencoder (see the class docstring) and keep its film encodings and output rows.

        Raises:
            DataFormatError: implicit data (no ratings).
            InvalidParameter: bad hyper-parameters, or PyTorch is not installed.
        """
        if data.ratings is None:
            raise DataFormatError("autorec needs explicit ratings; use implicit-als or bpr for implicit data")
        self._check_params()
        try:
            import torch
        except ImportError as exc:
            raise InvalidParameter("autorec needs PyTorch: pip install 'cinerec[deep]'") from exc
        self._remember(data)
        self.min_rating_, self.max_rating_ = data.rating_scale
        self.mu_, self.rating_std_ = _standardisation(data.ratings)
        z = (np.asarray(data.ratings, dtype=np.float64) - self.mu_) / self.rating_std_
        seed = 0 if self.random_state is None else int(self.random_state)
        held = np.random.default_rng(seed).random(len(z)) < self.validation_fraction
        fit_idx, val_idx = np.flatnonzero(~held), np.flatnonzero(held)
        state, self.best_iter_, best_rmse = self._train(torch, data, z, fit_idx, val_idx, self.max_iter, seed)
        self.validation_rmse_ = best_rmse * self.rating_std_ if len(val_idx) else float("nan")
        if len(val_idx) and self.refit:
            state, _, _ = self._train(torch, data, z, np.arange(len(z)), val_idx[:0], self.best_iter_, seed)
        self._export(state, data, z)
        return self

    def _train(self, torch: Any, data: Interactions, z: FloatArray, fit_idx: IntArray, val_idx: IntArray,
               iterations: int, seed: int) -> tuple[dict[str, np.ndarray], int, float]:
        """L-BFGS on the ratings ``fit_idx``; returns the weights at the best validation check, its iteration and RMSE."""
        torch.manual_seed(seed)
        n_users, k = data.n_users, int(self.n_factors)
        fi, fu = torch.as_tensor(data.items[fit_idx]), torch.as_tensor(data.users[fit_idx])
        fz = torch.as_tensor(z[fit_idx], dtype=torch.float32)
        offset = float(self.input_offset)
        # dense films x users where the ratings fill at least SPARSE_BELOW of it (a dense product is then several
        # times faster than sparse products with gathers); sparse input and the decoder at the rated pairs below
        dense = len(fit_idx) >= SPARSE_BELOW * data.n_items * n_users
        if dense:
            target = torch.zeros(data.n_items, n_users)
            target[fi, fu] = fz
            mask = torch.zeros(target.shape)
            mask[fi, fu] = 1.0
            x: Any = target + offset * mask
        else:
            # indices built here from the training pairs, in range and unique: nothing for torch to check
            x = torch.sparse_coo_tensor(torch.stack([fi, fu]), fz + offset, (data.n_items, n_users),
                                        check_invariants=False).coalesce()
        w = torch.nn.Parameter((torch.rand(n_users, k) * 2 - 1) * (3.0 / max(n_users, 1)) ** 0.5)
        c = torch.nn.Parameter(torch.zeros(k))
        v = torch.nn.Parameter(torch.randn(n_users, k) * 0.01)
        b = torch.nn.Parameter(torch.zeros(n_users))
        d = torch.nn.Parameter(torch.zeros(data.n_items, 1))
        opt = torch.optim.LBFGS([w, c, v, b, d], lr=1.0, history_size=10, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-9, tolerance_change=1e-12)
        vi, vu = torch.as_tensor(data.items[val_idx]), torch.as_tensor(data.users[val_idx])
        vz = torch.as_tensor(z[val_idx], dtype=torch.float32)
        reg, reg_bias = float(self.reg), float(self.reg_bias)

        def encode() -> Any:
            return torch.sigmoid((x @ w if dense else torch.sparse.mm(x, w)) + c)

        def closure() -> Any:
            opt.zero_grad()
            if dense:
                err = (encode() @ v.T + b + d - target) * mask
            else:
                err = (encode()[fi] * v[fu]).sum(1) + b[fu] + d[fi, 0] - fz
            loss = (err.pow(2).sum() + reg * (w.pow(2).sum() + v.pow(2).sum())
                    + reg_bias * (b.pow(2).sum() + d.pow(2).sum()))
            loss.backward()
            return loss

        def snapshot() -> dict[str, np.ndarray]:
            return {name: p.detach().numpy().astype(np.float64) for name, p in (("w", w), ("c", c), ("v", v), ("b", b), ("d", d[:, 0]))}

        best, best_iter, best_state, stale, done = float("inf"), iterations, snapshot(), 0, 0
        curve: list[float] = []
        group = opt.param_groups[0]
        while done < iterations:
            group["max_iter"] = min(self.check_every, iterations - done)
            group["max_eval"] = 3 * group["max_iter"]
            opt.step(closure)
            now = int(opt.state[w].get("n_iter", 0))
            if now == done:  # converged: L-BFGS made no further step
                break
            done = now
            if not len(val_idx):
                continue
            with torch.no_grad():
                h = encode()[vi]
                rmse = float(((h * v[vu]).sum(1) + b[vu] + d[vi, 0] - vz).pow(2).mean().sqrt())
            curve.append(rmse * self.rating_std_)
            if rmse < best - 1e-5:
                best, best_iter, best_state, stale = rmse, done, snapshot(), 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if len(val_idx):
            self.validation_curve_ = np.asarray(curve)
        else:
            best_state, best_iter = snapshot(), done
        if not all(np.isfinite(a).all() for a in best_state.values()):
            raise ModelFitError("autorec diverged (non-finite weights); raise reg")
        return best_state, best_iter, best

    def _export(self, state: dict[str, np.ndarray], data: Interactions, z: FloatArray) -> None:
        """Film encodings of every training rating and the output rows, on the rating scale, centred on the mean user."""
        self.encoder_weight_, self.encoder_bias_ = state["w"], state["c"]
        x = sp.csr_matrix((z + float(self.input_offset), (data.items, data.users)), shape=(data.n_items, data.n_users))
        h = np.asarray(1.0 / (1.0 + np.exp(-(x @ self.encoder_weight_ + self.encoder_bias_))), dtype=np.float64)
        v, b = state["v"], state["b"]
        trained = np.diff(self.seen_.indptr) > 0
        v_mean = v[trained].mean(axis=0) if trained.any() else np.zeros(v.shape[1])
        b_mean = float(b[trained].mean()) if trained.any() else 0.0
        self.item_factors_ = h
        self.item_bias_ = state["d"] + h @ v_mean + b_mean
        self.user_factors_ = v - v_mean
        self.user_bias_ = b - b_mean
        self._unstandardise()
        # the fold-in shrinks towards the output row of zeros, as training does: in centred coordinates, minus the mean
        self.prior_mean_ = -self.rating_std_ * np.r_[b_mean, v_mean]
        self._check_finite()

    # --------------------------------------------------------- history (fold-in)
    def _fold_in_prior(self, n: int, m: int) -> list[FoldInBlock]:
        """Training's penalties on a user's output row: ``reg_bias`` on the bias, ``reg`` on the weights.

        They are the same ridge in rating units (both sides of the least
        squares scale by ``std^2``), and they shrink towards an output row of
        zeros, so a trained user's own ratings give back their trained row
        (up to the encodings having seen those ratings).
        """
        diag = np.r_[float(self.reg_bias), np.full(m - 1, float(self.reg))]
        return [FoldInBlock(slice(0, m), np.diag(np.maximum(diag, 1e-6)), np.asarray(self.prior_mean_, dtype=np.float64))]

    def _explain_vectors(self) -> FloatArray:
        """Encodings less their mean: sigmoid outputs are all positive, so raw cosines would all be high."""
        h = np.asarray(self.item_factors_, dtype=np.float64)
        return np.asarray(h - h.mean(axis=0), dtype=np.float64)

    def learned_summary(self) -> dict[str, Any]:
        """The iteration count kept and its validation RMSE."""
        self._check_fitted()
        return {"best_iter": int(self.best_iter_), "validation_rmse": round(float(self.validation_rmse_), 4)}
