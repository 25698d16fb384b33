"""Golden values for @tapegrad/ddpm's unet2d, computed by diffusers' own UNet2DModel.

Writes packages/ddpm/test/fixtures/unet2d-golden.json and the tiny DDPMPipeline folder
packages/ddpm/test/fixtures/diffusers-tiny/ (saved by diffusers' save_pretrained).

Weights of the golden configs are not stored: they come from a hash of (tensor index in
state_dict order, element index) that test/unet2d-golden.ts recomputes bit for bit (32-bit
integer arithmetic, one float64 multiply, one rounding to float32), so the fixture holds only
names, shapes, inputs and outputs.

Outputs per config:
  out_f32: the float32 model, exactly as diffusers runs it (its sinusoidal timestep embedding
           is always computed in float32);
  out_f64: the same weights in float64 (model.double()), with the timestep embedding computed
           by the same formula in float64, so the float64 reference backend can be compared
           tightly.

Usage (diffusers from its source tree; torch CPU from pip):
  python3 -m venv /work/venv-h4 && /work/venv-h4/bin/pip install torch==2.13.0+cpu numpy safetensors \
      huggingface-hub httpx regex requests Pillow filelock
  git -C <diffusers mirror> archive HEAD src | tar -x -C /tmp/diffusers
  PYTHONPATH=/tmp/diffusers/src /work/venv-h4/bin/python packages/ddpm/scripts/make-unet-golden.py

  # check a folder written by exportDiffusers (see scripts/export-check.ts):
  PYTHONPATH=/tmp/diffusers/src /work/venv-h4/bin/python packages/ddpm/scripts/make-unet-golden.py --check-export DIR
"""

import json
import math
import os
import shutil
import sys

import numpy as np
import torch

import diffusers
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "test", "fixtures")

M32 = 0xFFFFFFFF


def hash_u32(j, i):
    """A 32-bit integer hash of (tensor index j, element index i); the same in TypeScript."""
    x = (i * 0x9E3779B1 + j * 0x85EBCA77 + 0x27D4EB2F) & M32
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & M32
    x ^= x >> 12
    x = (x * 0x297A2D39) & M32
    x ^= x >> 15
    return x


def hash_uniform(j, n):
    """n numbers in [-1, 1): hash / 2^31 - 1 (exact in float64)."""
    return np.array([hash_u32(j, i) / 2147483648.0 - 1.0 for i in range(n)], dtype=np.float64)


def golden_tensor(j, name, shape):
    """The value of state_dict entry j: float64 arithmetic, then one rounding to float32."""
    n = int(np.prod(shape)) if len(shape) else 1
    v = hash_uniform(j, n)
    if name.endswith("class_embedding.weight"):
        out = v
    elif len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        out = v * (1.5 / math.sqrt(fan_in))
    elif "norm" in name and name.endswith(".weight"):
        out = 1.0 + 0.25 * v
    else:
        out = 0.25 * v
    return out.astype(np.float32).reshape(shape)


def f64_time_proj(num_channels, flip, shift):
    """diffusers' get_timestep_embedding with every step in float64."""

    def proj(timesteps):
        half = num_channels // 2
        exponent = -math.log(10000) * torch.arange(0, half, dtype=torch.float64) / (half - shift)
        emb = timesteps[:, None].to(torch.float64) * torch.exp(exponent)[None, :]
        emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
        if flip:
            emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
        if num_channels % 2 == 1:
            emb = torch.nn.functional.pad(emb, (0, 1, 0, 0))
        return emb

    return proj


CONFIGS = {
    # no attention anywhere, no classes; scale_shift resnets, padding-0 downsampling,
    # centred input, [sin, cos] with freq_shift 1, a mid-block scale factor
    "plain": dict(
        sample_size=8, in_channels=2, out_channels=2, block_out_channels=(8, 16), norm_num_groups=4,
        layers_per_block=2, down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
        add_attention=False, flip_sin_to_cos=False, freq_shift=1, center_input_sample=True, downsample_padding=0,
        mid_block_scale_factor=1.5, resnet_time_scale_shift="scale_shift",
    ),
    # attention blocks (4 heads of 4 / 2 heads of 4) and a class embedding
    "attn-class": dict(
        sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), norm_num_groups=4,
        layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=4, num_class_embeds=4,
    ),
    # three levels, one-head attention (attention_head_dim None), own mid attention groups,
    # gelu resnets, an explicit time_embedding_dim and mid-block scale factor
    "three-level": dict(
        sample_size=8, in_channels=1, out_channels=3, block_out_channels=(4, 8, 8), norm_num_groups=2,
        layers_per_block=1, down_block_types=("AttnDownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "AttnUpBlock2D"), attention_head_dim=None,
        attn_norm_num_groups=4, mid_block_scale_factor=2.0, time_embedding_dim=12, act_fn="gelu",
    ),
    # attention_head_dim that does not divide the channels (6 channels -> 1 head of 4, so q/k/v
    # are 4 wide; 12 -> 3 heads of 4), no mid block, relu, another eps, dropout (inactive in eval)
    "odd-heads-no-mid": dict(
        sample_size=4, in_channels=2, out_channels=1, block_out_channels=(6, 12), norm_num_groups=3,
        layers_per_block=1, down_block_types=("AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D"), attention_head_dim=4, mid_block_type=None,
        act_fn="relu", norm_eps=1e-3, dropout=0.1,
    ),
}

INPUTS = {
    "plain": dict(batch=2, t=[0.0, 999.0], labels=None),
    "attn-class": dict(batch=3, t=[3.0, 250.5, 999.0], labels=[0, 3, 1]),
    "three-level": dict(batch=2, t=[17.0, 640.0], labels=None),
    "odd-heads-no-mid": dict(batch=2, t=[999.0, 1.0], labels=None),
}


def camel(k):
    parts = k.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def to_list(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def golden_case(name, cfg):
    unet = UNet2DModel(**cfg)
    unet.eval()
    sd = unet.state_dict()
    names = list(sd.keys())
    shapes = [list(v.shape) for v in sd.values()]
    new_sd = {k: torch.from_numpy(golden_tensor(j, k, list(sd[k].shape))) for j, k in enumerate(names)}
    unet.load_state_dict(new_sd)
    inp = INPUTS[name]
    B = inp["batch"]
    H = W = cfg["sample_size"]
    x = torch.from_numpy(hash_uniform(100000, B * cfg["in_channels"] * H * W).astype(np.float32)).reshape(B, cfg["in_channels"], H, W)
    t = torch.tensor(inp["t"], dtype=torch.float32)
    labels = None if inp["labels"] is None else torch.tensor(inp["labels"], dtype=torch.long)
    with torch.no_grad():
        out32 = unet(x, t, class_labels=labels).sample
        unet64 = UNet2DModel(**cfg)
        unet64.load_state_dict(new_sd)
        unet64 = unet64.double().eval()
        unet64.time_proj.forward = f64_time_proj(cfg["block_out_channels"][0], unet64.config.flip_sin_to_cos, unet64.config.freq_shift)
        out64 = unet64(x.double(), t.double(), class_labels=labels).sample
    print(f"{name}: {len(names)} tensors, {sum(int(np.prod(s)) for s in shapes)} numbers, "
          f"|out| max {out32.abs().max():.4f}, f32 vs f64 max diff {(out32.double() - out64).abs().max():.2e}")
    return {
        "config": {camel(k): (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
        "diffusers_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in unet.config.items() if not k.startswith("_")},
        "params": [[n, s] for n, s in zip(names, shapes)],
        "x_shape": list(x.shape),
        "x": to_list(x),
        "t": inp["t"],
        "class_labels": inp["labels"],
        "out_shape": list(out32.shape),
        "out_f32": to_list(out32),
        "out_f64": to_list(out64),
    }


def tiny_pipeline(out_dir):
    """A real diffusers DDPMPipeline folder (PyTorch init, save_pretrained), for import tests."""
    torch.manual_seed(0)
    cfg = dict(
        sample_size=4, in_channels=1, out_channels=1, block_out_channels=(2, 4), norm_num_groups=2, layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=2, num_class_embeds=3,
    )
    unet = UNet2DModel(**cfg).eval()
    # non-trivial norms (PyTorch starts them at ones/zeros)
    with torch.no_grad():
        for k, v in unet.named_parameters():
            if "norm" in k:
                v.add_(0.1 * torch.randn_like(v))
    sched = DDPMScheduler(num_train_timesteps=50, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
                          variance_type="fixed_large", clip_sample=False)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    DDPMPipeline(unet=unet, scheduler=sched).save_pretrained(out_dir)
    x = torch.from_numpy(hash_uniform(200000, 2 * 1 * 4 * 4).astype(np.float32)).reshape(2, 1, 4, 4)
    t = torch.tensor([5.0, 42.0])
    labels = torch.tensor([2, 0])
    with torch.no_grad():
        out = unet(x, t, class_labels=labels).sample
    sizes = {f: os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out_dir) for f in fs}
    print(f"diffusers-tiny: {sizes}")
    return {"x_shape": list(x.shape), "x": to_list(x), "t": t.tolist(), "class_labels": labels.tolist(),
            "out_shape": list(out.shape), "out_f32": to_list(out),
            "alphas_cumprod": [float(v) for v in sched.alphas_cumprod.tolist()]}


def check_export(d):
    """Load a folder written by exportDiffusers with diffusers and compare with our forward."""
    with open(os.path.join(d, "tapegrad-check.json")) as f:
        chk = json.load(f)
    unet = UNet2DModel.from_pretrained(os.path.join(d, "unet")).eval()
    pipe = DDPMPipeline.from_pretrained(d)
    x = torch.tensor(chk["x"], dtype=torch.float32).reshape(chk["x_shape"])
    t = torch.tensor(chk["t"], dtype=torch.float32)
    labels = None if chk.get("class_labels") is None else torch.tensor(chk["class_labels"], dtype=torch.long)
    ours = torch.tensor(chk["out"], dtype=torch.float32).reshape(chk["out_shape"])
    with torch.no_grad():
        out = unet(x, t, class_labels=labels).sample
        out_pipe = pipe.unet(x, t, class_labels=labels).sample
    diff = (out - ours).abs().max().item()
    scale = ours.abs().max().item()
    print(f"UNet2DModel.from_pretrained: output {list(out.shape)}, max |diffusers - tapegrad| = {diff:.3e} (max |out| {scale:.3f})")
    print(f"DDPMPipeline.from_pretrained: unet {type(pipe.unet).__name__}, scheduler {type(pipe.scheduler).__name__}, "
          f"max |pipe.unet - tapegrad| = {(out_pipe - ours).abs().max().item():.3e}")
    ac_ours = torch.tensor(chk["alphas_cumprod"], dtype=torch.float64)
    ac_diff = (pipe.scheduler.alphas_cumprod.double() - ac_ours).abs().max().item()
    print(f"scheduler: {dict(pipe.scheduler.config)}")
    print(f"alphas_cumprod: max |diffusers (float32) - tapegrad (float64)| = {ac_diff:.3e}")
    if labels is None:
        images = pipe(batch_size=2, num_inference_steps=3, output_type="np").images
        print(f"DDPMPipeline(...) sampled images of shape {images.shape}, finite: {bool(np.isfinite(images).all())}")
    ok = diff <= 1e-4 * max(1.0, scale) and ac_diff < 1e-6
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check-export":
        sys.exit(check_export(sys.argv[2]))
    torch.set_num_threads(1)
    golden = {
        "generator": "packages/ddpm/scripts/make-unet-golden.py",
        "diffusers_version": diffusers.__version__,
        "torch_version": torch.__version__,
        "cases": {name: golden_case(name, cfg) for name, cfg in CONFIGS.items()},
        "tiny_pipeline": tiny_pipeline(os.path.join(FIXTURES, "diffusers-tiny")),
    }
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, "unet2d-golden.json")
    with open(path, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
