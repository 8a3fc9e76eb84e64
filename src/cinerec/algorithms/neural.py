"""A PyTorch two-tower recommender whose item tower reads content: :class:`NeuralRecommender`.

torch is imported only inside :meth:`NeuralRecommender.fit`; a fitted model
keeps its user and item vectors as numpy arrays, so serving and loading need
numpy only. The network's ``state_dict`` is saved beside them as plain arrays
(``state_dict.npz``, read with ``allow_pickle=False``).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.algorithms._latent import LatentFoldIn, bpr_fold_in, softmax_fold_in
from cinerec.algorithms._torch_state import TorchStateModel
from cinerec.algorithms._validation import validation_ndcg, validation_users
from cinerec.algorithms.base import FloatArray, IntArray
from cinerec.data.interactions import Interactions
from cinerec.errors import DataFormatError, InvalidParameter


class NeuralRecommender(LatentFoldIn, TorchStateModel):
    """Two-tower neural recommender for top-N, trained with negative sampling.

    - User tower: a learned embedding per user.
    - Item tower: a learned id embedding plus an MLP over the item's content
      (TruncatedSVD of :class:`~cinerec.data.features.ItemFeatures`: genres,
      year, tags, people, plot text). During training the id embedding is
      dropped with probability ``id_dropout``, so the content path alone must
      place an item; a film without interactions is scored from its content.
    - Score: dot product. Loss: sampled softmax over the positive and
      ``n_negatives`` uniformly drawn items (``loss="softmax"``) or BPR
      (``loss="bpr"``); interactions weighted by their implicit weight.
    - Adam, mini-batches, early stopping on NDCG@10 of a per-user validation
      holdout; with ``refit`` the model is then retrained on all data for the
      best number of epochs.

    Args:
        n_factors: embedding size.
        hidden: width of the content MLP's hidden layer.
        content_components: SVD dimensions of the content input (0: ids only).
        loss: ``softmax`` or ``bpr``.
        n_negatives: negatives per step, drawn uniformly and shared by the
            batch; a catalogue no larger than this gets the full softmax.
        id_dropout: probability of hiding an item's id embedding in training.
        learning_rate: Adam step.
        l2: weight of the L2 penalty on the batch's embeddings.
        batch_size: positives per step.
        max_epochs: upper bound on epochs.
        patience: epochs without validation improvement before stopping.
        validation_fraction: share of each user's interactions held out for early stopping.
        refit: retrain on all data for the best epoch count.
        device: ``cpu``, ``cuda`` or ``auto``.
        verbose: show a progress bar.
        random_state: seed (numpy and torch).
    """

    name: ClassVar[str] = "neural"
    needs_features: ClassVar[bool] = True

    def __init__(self, n_factors: int = 64, hidden: int = 256, content_components: int = 64, loss: str = "softmax",
                 n_negatives: int = 2000, id_dropout: float = 0.1, learning_rate: float = 0.003, l2: float = 0.03,
                 batch_size: int = 1024, max_epochs: int = 60, patience: int = 5,
                 validation_fraction: float = 0.1, refit: bool = True, device: str = "cpu", verbose: bool = False,
                 random_state: int | None = 42) -> None:
        self.n_factors = n_factors
        self.hidden = hidden
        self.content_components = content_components
        self.loss = loss
        self.n_negatives = n_negatives
        self.id_dropout = id_dropout
        self.learning_rate = learning_rate
        self.l2 = l2
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def estimate_fit_bytes(self, n_users: int, n_items: int, n_ratings: int) -> int:
        """Peak memory of :meth:`fit` on the CPU: linear in the ratings, the embeddings and the catalogue's activations.

        Every float32 weight (``(users + items) x n_factors`` embeddings and
        the content tower) is held with its gradient, Adam's two moments and
        the best epoch's copy, 20 bytes; each step runs the item tower over
        the whole catalogue and scores a batch against all items (full
        softmax) or ``n_negatives`` of them, three float32 copies for the
        backward pass; validation scores up to 3,000 members against every
        item in float64; the shuffles, splits and their tensors take about
        128 bytes a rating.
        """
        rows = int(n_users) + int(n_items)
        d, hidden, c = int(self.n_factors), int(self.hidden), int(self.content_components)
        weights = rows * d + c * hidden + hidden * d
        width = int(n_items) if int(self.n_negatives) >= int(n_items) else int(self.n_negatives)
        steps = 12 * (int(n_items) * (hidden + d + c) + int(self.batch_size) * width)
        validation = 24 * min(int(n_users), 3000) * int(n_items)
        return 128 * int(n_ratings) + 20 * weights + steps + validation + 64 * rows

    def _check_params(self) -> None:
        if self.loss not in ("softmax", "bpr"):
            raise InvalidParameter(f"loss must be 'softmax' or 'bpr', not {self.loss!r}")
        if self.n_factors < 1 or self.hidden < 1 or self.n_negatives < 1 or self.batch_size < 1 or self.max_epochs < 1:
            raise InvalidParameter("n_factors, hidden, n_negatives, batch_size and max_epochs must be >= 1")
        if not 0 <= self.id_dropout < 1 or not 0 < self.validation_fraction < 1:
            raise InvalidParameter("id_dropout must be in [0, 1) and validation_fraction in (0, 1)")
        self._check_device()

    def _content(self, data: Interactions) -> npt.NDArray[np.float32]:
        content, variance = content_inputs(data, self.content_components, self.random_state, self.name)
        if variance is not None:
            self.explained_variance_ = variance
        return content

    def fit(self, data: Interactions) -> Self:
        """Train the towers (see the class docstring).

        Raises:
            InvalidParameter: bad hyper-parameters, or ``cuda`` without a GPU.
            DataFormatError: no item features while ``content_components > 0``.
        """
        try:
            import torch
        except ImportError as exc:
            raise InvalidParameter("neural needs PyTorch: pip install 'cinerec[deep]'") from exc
        self._check_params()
        self._remember(data)
        device = self._torch_device()
        content = self._content(data)
        seed = 0 if self.random_state is None else int(self.random_state)
        rng = np.random.default_rng(seed)
        weights = np.ones(len(data)) if data.weights is None else np.asarray(data.weights, dtype=np.float64)
        keys = rng.random(len(data))
        order = np.lexsort((keys, data.users))
        rank = np.empty(len(data), dtype=np.int64)
        counts = np.bincount(data.users, minlength=data.n_users)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank[order] = np.arange(len(data)) - np.repeat(starts, counts)
        n_val = np.floor(counts * self.validation_fraction).astype(np.int64)
        val = rank < n_val[data.users]
        train_idx, val_idx = np.flatnonzero(~val), np.flatnonzero(val)
        best_epoch, self.validation_ndcg_ = self._train(torch, device, data, content, weights, train_idx, val_idx,
                                                        self.max_epochs, seed)
        if self.refit and len(val_idx):
            self._train(torch, device, data, content, weights, np.arange(len(data)), np.array([], dtype=np.int64),
                        best_epoch, seed)
        self.best_epoch_ = best_epoch
        self.history_uses_values_ = data.weights is not None
        return self

    def _train(self, torch: Any, device: Any, data: Interactions, content: npt.NDArray[np.float32], weights: FloatArray,
               train_idx: IntArray, val_idx: IntArray, epochs: int, seed: int) -> tuple[int, float]:
        from tqdm.auto import tqdm

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        net = _TwoTower(torch, data.n_users, data.n_items, content.shape[1], self.n_factors, self.hidden).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        x_content = torch.as_tensor(content, device=device)
        users_all = torch.as_tensor(data.users, device=device)
        items_all = torch.as_tensor(data.items, device=device)
        w_all = torch.as_tensor(weights, dtype=torch.float32, device=device)
        trained = np.zeros(data.n_items, dtype=bool)
        trained[data.items[train_idx]] = True
        train_seen = sp.csr_matrix((np.ones(len(train_idx)), (data.users[train_idx], data.items[train_idx])),
                                   shape=data.shape)
        val_truth = sp.csr_matrix((np.ones(len(val_idx)), (data.users[val_idx], data.items[val_idx])), shape=data.shape)
        best, best_epoch, best_state, stale = -1.0, epochs, None, 0
        bar = tqdm(range(1, epochs + 1), desc="neural", disable=not self.verbose, file=sys.stderr, leave=False)
        for epoch in bar:
            net.train()
            perm = torch.as_tensor(rng.permutation(train_idx), device=device)
            total = 0.0
            full = self.n_negatives >= data.n_items
            for start in range(0, len(perm), self.batch_size):
                b = perm[start:start + self.batch_size]
                u, i, w = users_all[b], items_all[b], w_all[b]
                uv = net.user(u)
                items_vec = net.all_items(x_content, self.id_dropout)  # the item tower once per step
                iv = items_vec[i]
                if full:  # full softmax: every other item is a negative
                    logits = uv @ items_vec.T
                    pos = logits.gather(1, i[:, None]).squeeze(1)
                    negs = logits
                else:  # negatives sampled uniformly, shared by the batch; accidental hits masked
                    neg = torch.randint(0, data.n_items, (self.n_negatives,), device=device)
                    pos = (uv * iv).sum(-1)
                    negs = (uv @ items_vec[neg].T).masked_fill(neg[None, :] == i[:, None], float("-inf"))
                if self.loss == "softmax":
                    per = (torch.logsumexp(negs if full else torch.cat([pos[:, None], negs], dim=1), dim=1) - pos)
                else:
                    diff = pos[:, None] - negs
                    ok = torch.isfinite(diff)
                    per = -(torch.nn.functional.logsigmoid(torch.where(ok, diff, 0.0)) * ok).sum(1) / ok.sum(1).clamp(min=1)
                reg = self.l2 * (uv.pow(2).sum(-1) + iv.pow(2).sum(-1)).mean()
                loss = (per * w).sum() / w.sum() + reg
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
            if not len(val_idx):
                continue
            uf, itf = self._export(torch, net, x_content, trained)
            ndcg = _validation_ndcg(uf, itf, train_seen, val_truth)
            bar.set_postfix(loss=f"{total / len(perm):.4f}", val_ndcg=f"{ndcg:.4f}")
            if ndcg > best + 1e-5:
                best, best_epoch, stale = ndcg, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        bar.close()
        if best_state is not None:
            net.load_state_dict(best_state)
        self.user_factors_, self.item_factors_ = self._export(torch, net, x_content, trained)
        self._state_dict = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
        return best_epoch, max(best, 0.0)

    @staticmethod
    def _export(torch: Any, net: Any, x_content: Any, trained: np.ndarray) -> tuple[FloatArray, FloatArray]:
        """User and item vectors; items never seen in training are placed by content alone."""
        net.eval()
        with torch.no_grad():
            uf = net.user_emb.weight.detach().cpu().numpy().astype(np.float64)
            with_id = net.all_items(x_content, 0.0).cpu().numpy()
            content_only = net.all_items(x_content, 1.0).cpu().numpy()
        itf = np.where(trained[:, None], with_id, content_only).astype(np.float64)
        return uf, itf

    # -------------------------------------------------------------- serving
    def _score_known(self, users: IntArray) -> FloatArray:
        return np.asarray(self.user_factors_[users] @ self.item_factors_.T, dtype=np.float64)

    def _history_weights(self, values: FloatArray) -> FloatArray:
        """The history's interaction weights, as training weighted positives (one each without weights)."""
        return values if getattr(self, "history_uses_values_", False) else np.ones(len(values))

    def _fold_in_solve(self, items: IntArray, values: FloatArray, design: FloatArray, offset: FloatArray) -> FloatArray:
        """The user vector that maximises the training loss for the history against the fixed item tower.

        Training minimises, per interaction, a softmax (or BPR) loss; with the
        item vectors fixed that is a concave problem in the user's vector,
        solved by Newton's method (full softmax: every other item is a
        negative). Early stopping leaves trained user vectors well short of
        the weak ``l2`` optimum, so the softmax fold-in's prior is the
        Gaussian of the trained users' vectors (their mean and covariance).
        A least-squares fold-in agreed poorly with the trained ranking (top-10
        overlap 0.14-0.44 on ML-100K).
        """
        if self.loss == "bpr":
            d = design.shape[1]
            return bpr_fold_in(design, offset, items, 2.0 * float(self.l2) * len(items) * np.eye(d), np.zeros(d))
        weights = self._history_weights(values)
        # prior: the Gaussian of the trained users' vectors (early stopping leaves them far from
        # the weak L2 optimum; this prior reproduces that shrinkage)
        d = design.shape[1]
        prior = self._trained_user_gaussian(d)
        if prior is None:
            return softmax_fold_in(design, items, weights, 2.0 * float(self.l2) * np.eye(d), np.zeros(d))
        return softmax_fold_in(design, items, weights, *prior)

def content_inputs(data: Interactions, components: int, random_state: int | None,
                   model: str) -> tuple[npt.NDArray[np.float32], float | None]:
    """Standardised TruncatedSVD coordinates of the items' content: the input of a content tower.

    Args:
        data: interactions carrying :class:`~cinerec.data.features.ItemFeatures`.
        components: SVD dimensions (0: no content, an ``(n_items, 0)`` array).
        random_state: seed of the SVD (``None``: 0).
        model: the model's name, for the error message.

    Returns:
        ``(n_items, components)`` float32 columns of zero mean and unit spread,
        and the share of the features' variance they explain (``None`` for no content).

    Raises:
        DataFormatError: no item features while ``components > 0``.
    """
    feats = data.item_features
    if components == 0:
        return np.zeros((data.n_items, 0), dtype=np.float32), None
    if feats is None or feats.n_features == 0:
        raise DataFormatError(f"{model} needs item features for its content tower (or content_components=0)")
    vec, variance = feats.reduce(components, random_state or 0)
    sd = vec.std(axis=0)
    return np.asarray((vec - vec.mean(axis=0)) / np.where(sd > 0, sd, 1.0), dtype=np.float32), float(variance)


def _validation_ndcg(uf: FloatArray, itf: FloatArray, seen: sp.csr_matrix, truth: sp.csr_matrix, k: int = 10,
                     max_users: int = 3000) -> float:
    """NDCG@k of the validation interactions, training items masked (a sample of users on big data)."""
    users = validation_users(truth, max_users)
    return validation_ndcg(uf[users] @ itf.T, seen[users], truth[users], k)


class _TwoTower:
    """Factory for the torch module (kept out of module scope so importing cinerec never imports torch)."""

    def __new__(cls, torch: Any, n_users: int, n_items: int, n_content: int, d: int, hidden: int) -> Any:
        nn = torch.nn

        class TwoTower(nn.Module):  # type: ignore[misc, name-defined]
            def __init__(self) -> None:
                super().__init__()
                self.user_emb = nn.Embedding(n_users, d)
                self.item_emb = nn.Embedding(n_items, d)
                nn.init.normal_(self.user_emb.weight, std=0.05)
                nn.init.normal_(self.item_emb.weight, std=0.05)
                self.content = (nn.Sequential(nn.Linear(n_content, hidden), nn.ReLU(), nn.Linear(hidden, d))
                                if n_content else None)

            def user(self, u: Any) -> Any:
                return self.user_emb(u)

            def all_items(self, x_content: Any, drop: float) -> Any:
                """Every item's vector; ``drop`` hides id embeddings (1.0: content only)."""
                v = self.item_emb.weight
                if drop >= 1.0:
                    v = torch.zeros_like(v)
                elif drop > 0 and self.training:
                    v = v * (torch.rand(len(v), 1, device=v.device) >= drop)
                if self.content is not None:
                    v = v + self.content(x_content)
                return v

        return TwoTower()
