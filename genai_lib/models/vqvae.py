"""VQ-VAE (van den Oord et al., 2017): a discrete latent code from a learned codebook.

The encoder maps an image to a 7x7 grid of vectors $z_e$; each is replaced by its nearest
codebook entry $e_k$, and the decoder reconstructs from those. Nearest-neighbour lookup has no
gradient, so the *straight-through estimator* copies the decoder's gradient to $z_e$:

$$z_q = z_e + \\operatorname{sg}[e_k - z_e], \\qquad
\\mathcal L = -\\log p(x \\mid z_q) + \\lVert \\operatorname{sg}[z_e] - e_k \\rVert^2
            + \\lambda_{\\text{commit}} \\lVert z_e - \\operatorname{sg}[e_k] \\rVert^2,$$

where sg stops gradients: the second term (codebook loss) moves the codes towards the
encoder's outputs, the third (commitment loss) keeps the encoder close to its codes. The paper
calls the commitment weight $\\beta$; the book writes $\\lambda_{\\text{commit}}$ (keeping $\\beta$ for
the beta-VAE), and :class:`VQVAEConfig` stores it as ``beta``.
Sampling needs a prior over code grids; :class:`CodePrior` is the simplest useful one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import check_images, check_int, check_number, check_tensor, fail, plain_fields


@dataclass(frozen=True)
class VQVAEConfig:
    codebook_size: int = 32
    code_dim: int = 16
    channels: int = 32
    beta: float = 0.25  # commitment weight, lambda_commit in the book (the paper's beta = 0.25)

    def __post_init__(self):
        plain_fields(self)
        for name in ("codebook_size", "code_dim", "channels"):
            check_int(getattr(self, name), f"VQVAEConfig.{name}", low=1)
        check_number(self.beta, "VQVAEConfig.beta", 0)


class VectorQuantizer(nn.Module):
    def __init__(self, codebook_size: int, code_dim: int):
        super().__init__()
        self.codebook = nn.Embedding(codebook_size, code_dim)
        self.codebook.weight.data.uniform_(-1 / codebook_size, 1 / codebook_size)

    def forward(self, z_e: torch.Tensor):
        """z_e (B, D, H, W) -> (z_q with straight-through gradients, indices (B, H, W), codebook loss, commitment loss)."""
        check_tensor(z_e, "z_e", ndim=4, floating=True, what="encoder outputs (B, D, H, W)")
        if z_e.shape[1] != self.codebook.embedding_dim:
            fail("z_e", f"{self.codebook.embedding_dim} channels (the code size)", f"shape {tuple(z_e.shape)}")
        B, D, H, W = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, D)                     # (B*H*W, D)
        indices = torch.cdist(flat, self.codebook.weight).argmin(1)       # nearest code
        z_q = self.codebook(indices).reshape(B, H, W, D).permute(0, 3, 1, 2)  # (B, D, H, W)
        codebook_loss = F.mse_loss(z_q, z_e.detach(), reduction="none").flatten(1).sum(1)
        commitment_loss = F.mse_loss(z_e, z_q.detach(), reduction="none").flatten(1).sum(1)
        z_q_st = z_e + (z_q - z_e).detach()  # forward: z_q; backward: identity to z_e
        return z_q_st, indices.reshape(B, H, W), codebook_loss, commitment_loss


class VQVAE(nn.Module):
    def __init__(self, cfg: VQVAEConfig = VQVAEConfig()):
        super().__init__()
        self.cfg = cfg
        C, D = cfg.channels, cfg.code_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, C, 4, 2, 1), nn.ReLU(),      # 28x28 => 14x14
            nn.Conv2d(C, C, 4, 2, 1), nn.ReLU(),      # 14x14 => 7x7
            nn.Conv2d(C, D, 1))                       # (B, D, 7, 7)
        self.quantizer = VectorQuantizer(cfg.codebook_size, D)
        self.decoder = nn.Sequential(
            nn.Conv2d(D, C, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(C, C, 4, 2, 1), nn.ReLU(),  # 7x7 => 14x14
            nn.ConvTranspose2d(C, 1, 4, 2, 1))             # 14x14 => 28x28, Bernoulli logits

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices of images. (B, 7, 7)"""
        check_images(x, "x", like=self.quantizer.codebook.weight)
        return self.quantizer(self.encoder(x))[1]

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image reconstruction (nats), codebook and commitment losses, and the indices."""
        check_images(x, "x", like=self.quantizer.codebook.weight)
        z_q, indices, codebook, commitment = self.quantizer(self.encoder(x))
        rec = F.binary_cross_entropy_with_logits(self.decoder(z_q), x, reduction="none").flatten(1).sum(1)
        return {"rec": rec, "codebook": codebook, "commitment": commitment, "indices": indices}

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is not None:
            fail("y", "None: this VQ-VAE is unconditional and takes no labels", "labels",
                 "Build the batches from the images alone, Batches(x, batch_size=...)")
        parts = self.losses(x)
        return (parts["rec"] + parts["codebook"] + self.cfg.beta * parts["commitment"]).mean()

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Images (pixel probabilities) from code grids (B, 7, 7)."""
        check_tensor(indices, "indices", ndim=3, floating=False, what="code grids (B, H, W)")
        if int(indices.max()) >= self.cfg.codebook_size or int(indices.min()) < 0:
            fail("indices", f"code indices in [0, {self.cfg.codebook_size})",
                 f"values in [{int(indices.min())}, {int(indices.max())}]")
        z_q = self.quantizer.codebook(indices).permute(0, 3, 1, 2)  # (B, D, H, W)
        return self.decoder(z_q).sigmoid()


class CodePrior:
    """A prior over code grids in raster order: $p(c) = \\prod_i p_i(c_i \\mid c_{i-1})$.

    One transition table per position, fitted by counting with add-one (Laplace) smoothing: the
    posterior mean of each row under a uniform Dirichlet prior, not the maximum-likelihood
    estimate (which is the raw counts normalised). Each code depends only on the previous code in
    raster order: its left neighbour, or for the first code of a row the last code of the row
    above. So samples get local strokes right and global shape only roughly; an autoregressive
    Transformer over codes (the sequence-model chapter) does much better.
    """

    def __init__(self, codes: torch.Tensor, codebook_size: int, smoothing: float = 1.0):
        check_int(codebook_size, "codebook_size", low=1)
        check_tensor(codes, "codes", ndim=3, floating=False, what="code grids (N, H, W)")
        if int(codes.min()) < 0 or int(codes.max()) >= codebook_size:
            fail("codes", f"code indices in [0, {codebook_size})", f"values in [{int(codes.min())}, {int(codes.max())}]")
        check_number(smoothing, "smoothing", 0, low_open=True,
                     fix="without smoothing an unseen transition has probability 0 and log-probability -inf")
        seq = codes.flatten(1).long().cpu()                              # (N, L)
        self.shape, self.K = tuple(codes.shape[1:]), codebook_size
        L = seq.shape[1]
        self.first = torch.bincount(seq[:, 0], minlength=codebook_size).float() + smoothing
        counts = torch.full((L - 1, codebook_size, codebook_size), smoothing)
        pos = torch.arange(L - 1).expand(len(seq), -1)
        counts.index_put_((pos.reshape(-1), seq[:, :-1].reshape(-1), seq[:, 1:].reshape(-1)),
                          torch.ones(pos.numel()), accumulate=True)
        self.transitions = counts / counts.sum(-1, keepdim=True)          # (L-1, K, K)
        self.first = self.first / self.first.sum()

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """$\\log p(c)$ of code grids (N, H, W), in nats. (N,)"""
        check_tensor(codes, "codes", floating=False, what=f"code grids (N, {', '.join(map(str, self.shape))})")
        if tuple(codes.shape[1:]) != self.shape:
            fail("codes", f"code grids of shape (N, {', '.join(map(str, self.shape))}), the prior's", f"shape {tuple(codes.shape)}")
        if int(codes.min()) < 0 or int(codes.max()) >= self.K:
            fail("codes", f"code indices in [0, {self.K})", f"values in [{int(codes.min())}, {int(codes.max())}]")
        seq = codes.flatten(1).long().cpu()
        lp = self.first.log()[seq[:, 0]]
        steps = torch.arange(seq.shape[1] - 1)
        return lp + self.transitions.log()[steps, seq[:, :-1], seq[:, 1:]].sum(1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        check_int(n, "n", low=1)
        c = [torch.multinomial(self.first.expand(n, -1), 1, generator=generator)[:, 0]]
        for i in range(self.transitions.shape[0]):
            c.append(torch.multinomial(self.transitions[i][c[-1]], 1, generator=generator)[:, 0])
        return torch.stack(c, 1).reshape(n, *self.shape)
