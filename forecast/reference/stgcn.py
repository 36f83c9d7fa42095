"""PyTorch reference of the STGCN in forecast/src/model.rs (Yu, Yin and Zhu, IJCAI 2018).

Same layers, same tensor layout ([batch, channels, time, nodes]) and the same parameter names as
the Rust model, so `safetensors.torch.save_file(model.state_dict(), "model.safetensors")` gives a
file the Rust side loads with `VarStore::load`. A model trained here can then be served by putting
that file in a bundle directory next to a matching bundle.json and topology.json.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def scaled_laplacian(weights: np.ndarray) -> np.ndarray:
    """2 L / lambda_max - I for L = I - D^-1/2 W D^-1/2 (isolated nodes keep L_ii = 1)."""
    w = np.asarray(weights, dtype=np.float64)
    degree = w.sum(axis=1)
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0)), 0.0)
    lap = np.eye(len(w)) - inv_sqrt[:, None] * w * inv_sqrt[None, :]
    lambda_max = max(float(np.linalg.eigvalsh(lap).max()), 1e-6)
    return 2.0 * lap / lambda_max - np.eye(len(w))


class Align(nn.Module):
    """Residual path: 1x1 conv when channels shrink, zero padding when they grow."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.align = nn.Conv2d(c_in, c_out, (1, 1)) if c_in > c_out else None

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        if self.align is not None:
            return self.align(x)
        if self.c_in < self.c_out:
            return F.pad(x, (0, 0, 0, 0, 0, self.c_out - self.c_in))
        return x


class TemporalGlu(Align):
    """(P + residual) * sigmoid(Q), kernel kt along time, no padding."""

    def __init__(self, kt: int, c_in: int, c_out: int):
        super().__init__(c_in, c_out)
        self.kt = kt
        self.conv = nn.Conv2d(c_in, 2 * c_out, (kt, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.residual(x)[:, :, self.kt - 1 :, :]
        p, q = torch.split(self.conv(x), self.c_out, dim=1)
        return (p + residual) * torch.sigmoid(q)


class ChebConv(Align):
    """Chebyshev graph convolution (ks terms) + residual + ReLU."""

    def __init__(self, ks: int, c_in: int, c_out: int):
        super().__init__(c_in, c_out)
        self.ks = ks
        bound = 1.0 / (ks * c_in) ** 0.5
        self.weight = nn.Parameter(torch.empty(ks, c_in, c_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor, laplacian_t: torch.Tensor) -> torch.Tensor:
        terms = [x]
        if self.ks > 1:
            terms.append(x @ laplacian_t)
        for k in range(2, self.ks):
            terms.append(2.0 * (terms[k - 1] @ laplacian_t) - terms[k - 2])
        out = torch.einsum("kbctn,kcd->bdtn", torch.stack(terms, 0), self.weight)
        out = out + self.bias.view(1, -1, 1, 1)
        return torch.relu(out + self.residual(x))


def norm_nodes_channels(ln: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    return ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class StConvBlock(nn.Module):
    def __init__(self, cfg: dict, c_in: int, channels: list[int]):
        super().__init__()
        c_t, c_s, c_o = channels
        self.tconv1 = TemporalGlu(cfg["kt"], c_in, c_t)
        self.gconv = ChebConv(cfg["ks"], c_t, c_s)
        self.tconv2 = TemporalGlu(cfg["kt"], c_s, c_o)
        self.ln = nn.LayerNorm([cfg["nodes"], c_o])

    def forward(self, x: torch.Tensor, laplacian_t: torch.Tensor) -> torch.Tensor:
        x = self.tconv1(x)
        x = self.gconv(x, laplacian_t)
        x = self.tconv2(x)
        return norm_nodes_channels(self.ln, x)


class OutputBlock(nn.Module):
    def __init__(self, cfg: dict, c_in: int):
        super().__init__()
        c = cfg["output_channels"]
        kernel = cfg["lookback"] - 2 * (cfg["kt"] - 1) * len(cfg["blocks"])
        self.tconv = TemporalGlu(kernel, c_in, c)
        self.ln = nn.LayerNorm([cfg["nodes"], c])
        self.fc1 = nn.Conv2d(c, c, (1, 1))
        self.fc2 = nn.Conv2d(c, cfg["horizon"], (1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tconv(x)
        x = norm_nodes_channels(self.ln, x)
        x = torch.sigmoid(self.fc1(x))
        return self.fc2(x).squeeze(2)


class Stgcn(nn.Module):
    """`cfg` has the fields of the Rust `ModelConfig` (as in a bundle's bundle.json "model")."""

    def __init__(self, cfg: dict, laplacian: np.ndarray):
        super().__init__()
        self.cfg = cfg
        self.dropout = cfg["dropout"]
        lap_t = torch.tensor(np.asarray(laplacian, dtype=np.float32)).t().contiguous()
        # Not a parameter and not saved: the graph comes from the bundle's topology.
        self.register_buffer("laplacian_t", lap_t, persistent=False)
        c_in = cfg["in_channels"]
        self.block_names = []
        for i, channels in enumerate(cfg["blocks"]):
            name = f"st{i + 1}"
            setattr(self, name, StConvBlock(cfg, c_in, channels))
            self.block_names.append(name)
            c_in = channels[2]
        self.out = OutputBlock(cfg, c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, in_channels, lookback, nodes] -> [B, horizon, nodes]"""
        for name in self.block_names:
            x = getattr(self, name)(x, self.laplacian_t)
            x = F.dropout(x, self.dropout, self.training)
        return self.out(x)
