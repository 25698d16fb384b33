"""Golden values of torch.nn.functional.group_norm (forward and backward) for
packages/nn/test/groupnorm-torch.test.ts.

Inputs are drawn in float32 (so the TypeScript side holds them exactly), the op and its
gradients are computed by PyTorch in float64: y, and for a cotangent g the gradients of
sum(y * g) w.r.t. x, weight and bias. Run from the repository root:

    python3 -m venv /work/venv-hb && /work/venv-hb/bin/pip install torch==2.13.0+cpu numpy
    /work/venv-hb/bin/python packages/nn/scripts/make-groupnorm-golden.py
"""
import json
import numpy as np
import torch

rng = np.random.default_rng(20261201)
CASES = [
    # name, shape, groups, eps, affine, kind
    ("nchw affine", [2, 6, 4, 4], 3, 1e-5, True, "plain"),
    ("ncl no affine", [3, 4, 5], 2, 1e-5, False, "plain"),
    ("nc rank 2", [2, 8], 4, 1e-3, True, "plain"),
    ("unet-like 32 channels / 8 groups", [1, 32, 4, 4], 8, 1e-5, True, "plain"),
    ("large offset (mean 1e3, std 1e-2)", [1, 8, 7, 7], 2, 1e-5, True, "offset"),
    ("constant groups (variance 0)", [2, 4, 3, 3], 2, 1e-5, True, "constant"),
    ("one group, eps 0.1", [2, 3, 5, 2], 1, 0.1, True, "plain"),
]


def f32(a):
    return np.asarray(a, dtype=np.float32)


out = []
for name, shape, groups, eps, affine, kind in CASES:
    n = int(np.prod(shape))
    if kind == "offset":
        x = f32(1000.0 + 0.01 * rng.standard_normal(n))
    elif kind == "constant":
        x = f32(rng.standard_normal(n) * 2)
        m = n // (shape[0] * groups)
        for r in range(0, shape[0] * groups, 2):  # every other group constant
            x[r * m:(r + 1) * m] = f32(1.75 + r)
    else:
        x = f32(rng.standard_normal(n) * 2 + 0.5)
    g = f32(rng.standard_normal(n))
    C = shape[1]
    w = f32(rng.standard_normal(C) * 0.5 + 1) if affine else None
    b = f32(rng.standard_normal(C) * 0.5) if affine else None

    xt = torch.tensor(x.astype(np.float64).reshape(shape), requires_grad=True)
    wt = torch.tensor(w.astype(np.float64), requires_grad=True) if affine else None
    bt = torch.tensor(b.astype(np.float64), requires_grad=True) if affine else None
    y = torch.nn.functional.group_norm(xt, groups, wt, bt, eps)
    (y * torch.tensor(g.astype(np.float64).reshape(shape))).sum().backward()
    case = {
        "name": name, "shape": shape, "groups": groups, "eps": eps,
        "x": x.tolist(), "g": g.tolist(),
        "y": y.detach().numpy().reshape(-1).tolist(),
        "dx": xt.grad.numpy().reshape(-1).tolist(),
    }
    if affine:
        case.update(weight=w.tolist(), bias=b.tolist(), dweight=wt.grad.numpy().tolist(), dbias=bt.grad.numpy().tolist())
    out.append(case)

with open("packages/nn/test/fixtures/groupnorm-torch.json", "w") as fh:
    json.dump({"torch": torch.__version__, "cases": out}, fh, separators=(",", ":"))
print(f"wrote {len(out)} cases")
