"""A variational autoencoder over user histories with a content-aware decoder: :class:`MultVAE`.

torch is imported only inside :meth:`MultVAE.fit`. A fitted model keeps the
encoder's weights and the decoder's item matrix and bias as numpy arrays, so
scoring a trained user or a fresh history is the encoder applied to the
history row (amortised inference: no per-user solve) followed by one matrix
product, in numpy. The network's ``state_dict`` is saved beside them as plain
arrays (``state_dict.npz``, read with ``allow_pickle=False``).
"""

from __future__ import annotations

import copy
import math
import sys
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cinerec.algorithms._ann import LatentQuery
from cinerec.algorithms._torch_state import TorchStateModel
from cinerec.algorithms._validation import validation_ndcg, validation_users
from cinerec.algorithms.base import FloatArray, IntArray, Reason
from cinerec.algorithms.neural import content_inputs
from cinerec.data.interactions import Interactions
from cinerec.data.splits import stratified_split
from cinerec.errors import InvalidParameter

F32 = npt.NDArray[np.float32]
#: LayerNorm epsilon of the dense encoder (RecVAE's value: a large epsilon keeps sparse rows' norms tame).
_LN_EPS = 0.1
#: Mixture weights of RecVAE's composite prior: standard normal, the previous encoder's posterior, a wide normal.
_COMPOSITE = (3 / 20, 3 / 4, 1 / 10)
_WIDE_LOGVAR = 10.0


class MultVAE(TorchStateModel):
    """Mult-VAE (Liang et al. 2018) for top-N, with RecVAE's options and a decoder that reads content.

    - Input: the user's history as a binary row over the catalogue, L2-normalised,
      with input dropout (``input_dropout``) during training.
    - Encoder: one ``tanh`` layer (``encoder_layers=1``, Mult-VAE) or RecVAE's
      densely connected swish + LayerNorm layers (``encoder_layers > 1``, Shenbin
      et al. 2020), then the posterior's mean and log-variance.
    - Decoder: ``softmax(z @ V.T + b)`` over every item (multinomial likelihood).
      Each item's row ``[V_i, b_i]`` is a learned id vector *plus* an MLP over the
      item's content (TruncatedSVD of :class:`~cinerec.data.features.ItemFeatures`,
      as the neural two-tower reads it). The id part is hidden with probability
      ``id_dropout`` in training, so the content path alone must place an item;
      a film nobody rated is scored from its content alone.
    - Loss: the multinomial negative log-likelihood plus ``beta`` times the KL
      term, ``beta`` annealed linearly from 0 to ``beta_cap`` over
      ``anneal_epochs``; ``prior="composite"`` uses RecVAE's mixture prior (the
      standard normal, the previous epoch's encoder posterior and a wide normal).
      ``alternating`` trains encoder and decoder in turns (RecVAE): an encoder
      pass with input dropout, then a decoder pass on the clean input.
    - Adam, mini-batches of users, early stopping on NDCG@10 of a per-user
      validation holdout; with ``refit`` the model is then retrained on all data
      for the best number of epochs.

    Scores of a trained user and of a fresh history are the same computation:
    the encoder's mean of the history row times the decoder (no sampling).
    Ratings are not used beyond "rated": every interaction counts as 1.

    Args:
        latent: size of ``z`` (and of the decoder's item vectors).
        hidden: width of the encoder's hidden layers.
        encoder_layers: 1 for Mult-VAE's encoder, more for RecVAE's dense one.
        input_dropout: share of the history hidden from the encoder per step.
        beta_cap: final weight of the KL term.
        anneal_epochs: epochs over which the KL weight rises to ``beta_cap``.
        prior: ``standard`` (N(0, I)) or ``composite`` (RecVAE).
        alternating: update the encoder and the decoder in turns.
        content_components: TruncatedSVD columns of item content fed to the decoder's MLP
            (0: the decoder has id vectors only and needs no features).
        content_hidden: hidden width of that MLP.
        id_dropout: in training, the chance that an item's id part is zeroed for a step.
        learning_rate: step size of Adam.
        weight_decay: Adam's L2 penalty, applied to every weight.
        batch_size: users (history rows) per step.
        max_epochs: most passes over the users.
        patience: epochs the validation NDCG may fail to improve before training stops.
        validation_fraction: per user, the share of interactions held out to pick the epoch.
        refit: after early stopping, train again on every interaction for the chosen number of epochs.
        device: where torch trains: ``cpu``, ``cuda`` or ``auto``.
        verbose: a progress bar with the validation NDCG.
        random_state: seeds numpy and torch (shuffles, dropout masks, the reparametrised samples).
    """

    name: ClassVar[str] = "vae"
    needs_features: ClassVar[bool] = True

    def __init__(self, latent: int = 200, hidden: int = 600, encoder_layers: int = 1, input_dropout: float = 0.3,
                 beta_cap: float = 0.2, anneal_epochs: int = 20, prior: str = "standard", alternating: bool = False,
                 content_components: int = 64, content_hidden: int = 256, id_dropout: float = 0.1,
                 learning_rate: float = 0.001, weight_decay: float = 0.0, batch_size: int = 32,
                 max_epochs: int = 200, patience: int = 10, validation_fraction: float = 0.1, refit: bool = True,
                 device: str = "cpu", verbose: bool = False, random_state: int | None = 42) -> None:
        self.latent = latent
        self.hidden = hidden
        self.encoder_layers = encoder_layers
        self.input_dropout = input_dropout
        self.beta_cap = beta_cap
        self.anneal_epochs = anneal_epochs
        self.prior = prior
        self.alternating = alternating
        self.content_components = content_components
        self.content_hidden = content_hidden
        self.id_dropout = id_dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
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
        """Peak memory of :meth:`fit` on the CPU: the item-wide first layer and decoder, and a batch's dense rows.

        Every float32 weight (the ``n_items x hidden`` first layer, the
        ``n_items x (latent + 1)`` decoder and the small layers) is held with its
        gradient, Adam's two moments and the best epoch's copy, 20 bytes; a
        step makes dense ``batch x n_items`` float32 inputs, logits and their
        softmax with gradients (about eight copies); validation scores up to
        3,000 users against every item in float64; the training matrix and
        its splits take about 64 bytes a rating.
        """
        h, d, c = int(self.hidden), int(self.latent), int(self.content_components)
        weights = int(n_items) * (h + d + 1) + h * h * max(int(self.encoder_layers) - 1, 0) + 2 * h * d \
            + c * int(self.content_hidden) + int(self.content_hidden) * (d + 1)
        steps = 32 * int(self.batch_size) * int(n_items)
        validation = 24 * min(int(n_users), 3000) * int(n_items)
        return 64 * int(n_ratings) + 20 * weights + steps + validation + 8 * int(n_items) * (d + 1)

    def _check_params(self) -> None:
        if min(self.latent, self.hidden, self.encoder_layers, self.batch_size, self.max_epochs, self.patience,
               self.content_hidden) < 1:
            raise InvalidParameter("latent, hidden, encoder_layers, content_hidden, batch_size, max_epochs and "
                                   "patience must be >= 1")
        if self.content_components < 0 or self.anneal_epochs < 0 or self.beta_cap < 0 or self.weight_decay < 0:
            raise InvalidParameter("content_components, anneal_epochs, beta_cap and weight_decay must be >= 0")
        if not (0 <= self.input_dropout < 1 and 0 <= self.id_dropout < 1 and 0 < self.validation_fraction < 1):
            raise InvalidParameter("input_dropout and id_dropout must be in [0, 1), validation_fraction in (0, 1)")
        if self.prior not in ("standard", "composite"):
            raise InvalidParameter(f"prior must be 'standard' or 'composite', not {self.prior!r}")
        self._check_device()

    def fit(self, data: Interactions) -> Self:
        """Train the autoencoder (see the class docstring).

        Raises:
            InvalidParameter: bad hyper-parameters, ``cuda`` without a GPU, or no PyTorch.
            DataFormatError: no item features while ``content_components > 0``.
        """
        try:
            import torch
        except ImportError as exc:
            raise InvalidParameter("vae needs PyTorch: pip install 'cinerec[deep]'") from exc
        self._check_params()
        self._remember(data)
        device = self._torch_device()
        content, variance = content_inputs(data, self.content_components, self.random_state, self.name)
        self.explained_variance_ = 0.0 if variance is None else variance
        seed = 0 if self.random_state is None else int(self.random_state)
        everything = sp.csr_matrix(data.binary, dtype=np.float32)
        split = stratified_split(data, 1.0 - self.validation_fraction, random_state=seed)
        train = sp.csr_matrix(split.train.binary, dtype=np.float32)
        truth = sp.csr_matrix(split.test.binary, dtype=np.float32)
        best_epoch, self.validation_ndcg_ = self._train(torch, device, train, truth, content, self.max_epochs, seed)
        if self.refit and truth.nnz:
            self._train(torch, device, everything, None, content, best_epoch, seed)
        self.best_epoch_ = best_epoch
        return self

    def _train(self, torch: Any, device: Any, x: sp.csr_matrix, truth: sp.csr_matrix | None, content: F32,
               epochs: int, seed: int) -> tuple[int, float]:
        """Train a fresh network on the rows of ``x`` (early stopping on ``truth`` when given) and export it."""
        from tqdm.auto import tqdm

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        n_items = x.shape[1]
        net = _VAE(torch, n_items, content.shape[1], self.hidden, self.latent, self.encoder_layers,
                   self.content_hidden).to(device)
        x_content = torch.as_tensor(content, device=device)
        trained = np.asarray(x.sum(axis=0)).ravel() > 0
        users = np.flatnonzero(np.diff(x.indptr) > 0)
        steps_per_epoch = max(1, math.ceil(len(users) / self.batch_size))
        anneal = max(1, self.anneal_epochs * steps_per_epoch)
        encoder_params = [p for n, p in net.named_parameters() if n.startswith("enc")]
        decoder_params = [p for n, p in net.named_parameters() if not n.startswith("enc")]
        opts = ([torch.optim.Adam(encoder_params, lr=self.learning_rate, weight_decay=self.weight_decay),
                 torch.optim.Adam(decoder_params, lr=self.learning_rate, weight_decay=self.weight_decay)]
                if self.alternating else
                [torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)])
        val_users = validation_users(truth, 3000) if truth is not None else np.empty(0, dtype=np.int64)
        best, best_epoch, best_state, stale, step = -1.0, epochs, None, 0, 0
        old: Any = None
        bar = tqdm(range(1, epochs + 1), desc="vae", disable=not self.verbose, file=sys.stderr, leave=False)
        for epoch in bar:
            net.train()
            if self.prior == "composite":  # the prior's posterior part: this epoch's starting encoder, frozen
                old = copy.deepcopy(net).eval()
            passes = (("encoder", opts[0]), ("decoder", opts[1])) if self.alternating else (("both", opts[0]),)
            for part, opt in passes:
                order = rng.permutation(users)
                for start in range(0, len(order), self.batch_size):
                    batch = order[start:start + self.batch_size]
                    xb = torch.as_tensor(x[batch].toarray(), device=device)
                    beta = self.beta_cap * min(1.0, step / anneal)
                    loss = self._loss(torch, net, xb, x_content, beta, old, drop_input=part != "decoder",
                                      frozen=part)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if part != "decoder":
                        step += 1
            if truth is None:
                continue
            self._export(torch, net, x_content, trained)
            ndcg = validation_ndcg(self._scores(x[val_users]), x[val_users], truth[val_users])
            bar.set_postfix(val_ndcg=f"{ndcg:.4f}")
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
        self._export(torch, net, x_content, trained)
        self._state_dict = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
        return best_epoch, max(best, 0.0)

    def _loss(self, torch: Any, net: Any, xb: Any, x_content: Any, beta: float, old: Any, *, drop_input: bool,
              frozen: str) -> Any:
        """Negative ELBO of a batch: multinomial log-likelihood and ``beta`` times the KL term (or its composite estimate)."""
        functional = torch.nn.functional
        xn = functional.normalize(xb, dim=1)
        with torch.set_grad_enabled(frozen != "decoder"):
            mu, logvar = net.encode(functional.dropout(xn, self.input_dropout, training=drop_input))
        if frozen == "decoder":
            mu, logvar = mu.detach(), logvar.detach()
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        with torch.set_grad_enabled(frozen != "encoder"):
            vectors = net.items(x_content, self.id_dropout)
        if frozen == "encoder":
            vectors = vectors.detach()
        logits = z @ vectors[:, :-1].T + vectors[:, -1]
        nll = -(functional.log_softmax(logits, dim=1) * xb).sum(1).mean()
        if frozen == "decoder" or beta == 0.0:
            return nll
        if self.prior == "standard":
            kl = 0.5 * (-logvar + logvar.exp() + mu.pow(2) - 1).sum(1).mean()
        else:
            kl = (_log_normal(torch, z, mu, logvar) - _composite_prior(torch, old, xn, z)).sum(1).mean()
        return nll + beta * kl

    def _export(self, torch: Any, net: Any, x_content: Any, trained: npt.NDArray[np.bool_]) -> None:
        """Copy the encoder and the decoder's item rows to numpy; items never seen in training are placed by content alone."""
        net.eval()
        with torch.no_grad():
            with_id = net.items(x_content, 0.0).cpu().numpy()
            content_only = net.items(x_content, 1.0).cpu().numpy()
            layers = net.enc_layers
            self.encoder_in_ = layers[0].weight.T.contiguous().cpu().numpy()
            self.encoder_in_bias_ = layers[0].bias.cpu().numpy()
            hidden = int(self.hidden)
            self.encoder_hidden_ = np.stack([lay.weight.T.cpu().numpy() for lay in layers[1:]]) if len(layers) > 1 \
                else np.zeros((0, hidden, hidden), dtype=np.float32)
            self.encoder_hidden_bias_ = np.stack([lay.bias.cpu().numpy() for lay in layers[1:]]) if len(layers) > 1 \
                else np.zeros((0, hidden), dtype=np.float32)
            self.encoder_norm_ = np.stack([np.stack([n.weight.cpu().numpy(), n.bias.cpu().numpy()])
                                           for n in net.enc_norms]) if len(net.enc_norms) \
                else np.zeros((0, 2, hidden), dtype=np.float32)
            self.encoder_mu_ = net.enc_mu.weight.T.contiguous().cpu().numpy()
            self.encoder_mu_bias_ = net.enc_mu.bias.cpu().numpy()
        rows = np.where(trained[:, None], with_id, content_only).astype(np.float64)
        self.item_factors_ = rows[:, :-1]
        self.item_bias_ = rows[:, -1]

    # -------------------------------------------------------------- serving
    def _encode(self, rows: sp.csr_matrix) -> FloatArray:
        """The posterior mean ``z`` of each binary history row (the encoder in numpy, no dropout)."""
        x = sp.csr_matrix(rows, dtype=np.float64)
        x.data[:] = 1.0
        norms = np.sqrt(np.asarray(x.sum(axis=1)).ravel())
        x = sp.csr_matrix(sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x)
        h = np.asarray(x @ self.encoder_in_, dtype=np.float64) + self.encoder_in_bias_
        if not len(self.encoder_norm_):
            h = np.tanh(h)
        else:
            h = self._layer_norm(_swish(h), 0)
            total = h.copy()
            for k in range(len(self.encoder_hidden_)):
                h = self._layer_norm(_swish(h @ self.encoder_hidden_[k] + self.encoder_hidden_bias_[k] + total), k + 1)
                total += h
        return np.asarray(h @ self.encoder_mu_ + self.encoder_mu_bias_, dtype=np.float64)

    def _layer_norm(self, h: FloatArray, k: int) -> FloatArray:
        centred = h - h.mean(axis=1, keepdims=True)
        scaled = centred / np.sqrt(centred.var(axis=1, keepdims=True) + _LN_EPS)
        return np.asarray(scaled * self.encoder_norm_[k, 0] + self.encoder_norm_[k, 1], dtype=np.float64)

    def _scores(self, rows: sp.csr_matrix) -> FloatArray:
        return np.asarray(self._encode(rows) @ self.item_factors_.T + self.item_bias_, dtype=np.float64)

    def _history_row(self, items: IntArray) -> sp.csr_matrix:
        return sp.csr_matrix((np.ones(len(items)), (np.zeros(len(items), dtype=np.int64), items)),
                             shape=(1, self.n_items_))

    def _score_known(self, users: IntArray) -> FloatArray:
        return self._scores(self.seen_[users])

    def _score_history(self, items: IntArray, values: FloatArray) -> FloatArray:
        row: FloatArray = self._scores(self._history_row(items))[0]
        return row

    def _explain_history(self, items: IntArray, values: FloatArray, item: int, n: int) -> list[Reason]:
        return self._explain_by_vectors(self.item_factors_, items, item, n)

    def _latent_items(self) -> FloatArray | None:
        return np.hstack([self.item_factors_, self.item_bias_[:, None]])

    def _latent_users(self, users: IntArray) -> LatentQuery | None:
        z = self._encode(self.seen_[users])
        return LatentQuery(np.zeros(len(z)), np.hstack([z, np.ones((len(z), 1))]))

    def _latent_history(self, items: IntArray, values: FloatArray) -> LatentQuery | None:
        z = self._encode(self._history_row(items))
        return LatentQuery(np.zeros(1), np.hstack([z, np.ones((1, 1))]))


def _swish(h: FloatArray) -> FloatArray:
    return np.asarray(h / (1.0 + np.exp(-h)), dtype=np.float64)


def _composite_prior(torch: Any, old: Any, xn: Any, z: Any) -> Any:
    """Log-density of ``z`` under RecVAE's mixture prior (``old``: the epoch's starting network, on the clean input)."""
    with torch.no_grad():
        mu_old, logvar_old = old.encode(xn)
    parts = torch.stack([
        _log_normal(torch, z, torch.zeros_like(z), torch.zeros_like(z)) + math.log(_COMPOSITE[0]),
        _log_normal(torch, z, mu_old, logvar_old) + math.log(_COMPOSITE[1]),
        _log_normal(torch, z, torch.zeros_like(z), torch.full_like(z, _WIDE_LOGVAR)) + math.log(_COMPOSITE[2]),
    ], dim=-1)
    return torch.logsumexp(parts, dim=-1)


def _log_normal(torch: Any, z: Any, mu: Any, logvar: Any) -> Any:
    """Element-wise log-density of ``z`` under N(mu, exp(logvar))."""
    return -0.5 * (logvar + math.log(2 * math.pi) + (z - mu).pow(2) / logvar.exp())


class _VAE:
    """Factory for the torch module (kept out of module scope so importing cinerec never imports torch)."""

    def __new__(cls, torch: Any, n_items: int, n_content: int, hidden: int, latent: int, layers: int,
                content_hidden: int) -> Any:
        nn = torch.nn

        class VAE(nn.Module):  # type: ignore[misc, name-defined]
            def __init__(self) -> None:
                super().__init__()
                self.enc_layers = nn.ModuleList([nn.Linear(n_items, hidden)]
                                                + [nn.Linear(hidden, hidden) for _ in range(layers - 1)])
                self.enc_norms = nn.ModuleList([nn.LayerNorm(hidden, eps=_LN_EPS) for _ in range(layers)]
                                               if layers > 1 else [])
                self.enc_mu = nn.Linear(hidden, latent)
                self.enc_logvar = nn.Linear(hidden, latent)
                bound = 1.0 / math.sqrt(latent)
                self.item_emb = nn.Parameter(torch.empty(n_items, latent + 1).uniform_(-bound, bound))
                with torch.no_grad():
                    self.item_emb[:, -1] = 0.0
                self.content = (nn.Sequential(nn.Linear(n_content, content_hidden), nn.ReLU(),
                                              nn.Linear(content_hidden, latent + 1)) if n_content else None)

            def encode(self, x: Any) -> tuple[Any, Any]:
                h = self.enc_layers[0](x)
                if not len(self.enc_norms):
                    h = torch.tanh(h)
                else:
                    swish = nn.functional.silu
                    h = self.enc_norms[0](swish(h))
                    total = h
                    for lay, norm in zip(self.enc_layers[1:], self.enc_norms[1:], strict=True):
                        h = norm(swish(lay(h) + total))
                        total = total + h
                return self.enc_mu(h), self.enc_logvar(h)

            def items(self, x_content: Any, drop: float) -> Any:
                """Every item's ``[vector, bias]`` row; ``drop`` hides id parts (1.0: content only)."""
                v = self.item_emb
                if drop >= 1.0:
                    v = torch.zeros_like(v)
                elif drop > 0 and self.training:
                    v = v * (torch.rand(len(v), 1, device=v.device) >= drop)
                if self.content is not None:
                    v = v + self.content(x_content)
                return v

        return VAE()
