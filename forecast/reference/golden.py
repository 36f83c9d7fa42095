"""Writes the golden files the Rust test `golden` checks against (see scripts/golden.sh).

A small STGCN with seeded random weights (layer norms perturbed too, so every parameter
matters), an input, and the output of this reference implementation.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from stgcn import Stgcn, scaled_laplacian

CONFIG = {
    "nodes": 6,
    "in_channels": 3,
    "lookback": 12,
    "horizon": 4,
    "kt": 3,
    "ks": 3,
    "blocks": [[8, 4, 8], [8, 4, 8]],
    "output_channels": 8,
    "dropout": 0.0,
}
NODES = ["a/1", "a/2", "b/1", "b/2", "c/1", "d/1"]
EDGES = [
    ["a/1", "a/2", 1.0],
    ["b/1", "b/2", 1.0],
    ["a/1", "b/1", 0.37],
    ["a/1", "b/2", 0.37],
    ["a/2", "b/1", 0.37],
    ["a/2", "b/2", 0.37],
    ["b/1", "c/1", 0.6],
    ["b/2", "c/1", 0.6],
]


def main(out_dir: Path) -> None:
    torch.manual_seed(20180713)
    index = {n: i for i, n in enumerate(NODES)}
    w = np.zeros((len(NODES), len(NODES)))
    for a, b, weight in EDGES:
        w[index[a], index[b]] = w[index[b], index[a]] = weight
    model = Stgcn(CONFIG, scaled_laplacian(w)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith("ln.bias") or name.endswith("gconv.bias"):
                p.copy_(0.1 * torch.randn_like(p))
        x = torch.randn(2, CONFIG["in_channels"], CONFIG["lookback"], CONFIG["nodes"])
        y = model(x)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out_dir / "weights.safetensors"))
    save_file({"x": x.contiguous(), "y": y.contiguous()}, str(out_dir / "io.safetensors"))
    (out_dir / "config.json").write_text(
        json.dumps({"model": CONFIG, "nodes": NODES, "edges": EDGES, "torch": torch.__version__}, indent=2) + "\n"
    )
    print(f"golden files written to {out_dir} (output {tuple(y.shape)}, torch {torch.__version__})")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "testdata" / "golden")
