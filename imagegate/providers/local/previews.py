"""Previews of images a Diffusers pipeline is still denoising: when to make them, and how.

A preview is the pipeline's own VAE decode of the latents after a step, undone the way the
pipeline undoes them for its final image (unpacked, unscaled), so its colours are the model's
own and it has the final image's size. A linear latent-to-RGB projection would cost far less
(``bench/local_previews.py`` measures both: on the tiny CPU Flux about 0.4 ms against 10 ms, a
step being 15 ms) but needs colour factors fitted per model family, which imagegate does not
have; previews are asked for, and the device time they add is billed to whoever asks.

Everything here is blocking and runs in the pipeline's worker thread, inside its call.
"""

from __future__ import annotations

import math
from typing import Any

from imagegate.extras import require

__all__ = ["decode_preview", "preview_steps"]


def preview_steps(previews: int, steps: int) -> dict[int, list[int]]:
    """The preview indices due after each step (1..`steps`), evenly spaced over the steps:
    preview i after step ceil(steps * (i + 1) / (previews + 1)). With fewer steps than
    previews, some steps are due several (made once, reported under each index)."""
    due: dict[int, list[int]] = {}
    for index in range(previews):
        step = min(steps, max(1, math.ceil(steps * (index + 1) / (previews + 1))))
        due.setdefault(step, []).append(index)
    return due


def decode_preview(pipeline: Any, latents: Any, height: int, width: int) -> Any | None:
    """The PIL image the latents of one image (a batch of one, as the pipeline holds them
    between steps) decode to, or None for a latent layout this does not know."""
    torch = require("torch", purpose="previews on the local Diffusers backend")
    vae = getattr(pipeline, "vae", None)
    processor = getattr(pipeline, "image_processor", None)
    if vae is None or processor is None:
        return None
    with torch.no_grad():
        spatial = _spatial(pipeline, vae, latents, height, width)
        if spatial is None:
            return None
        decoded = vae.decode(spatial.to(vae.dtype), return_dict=False)[0]
        if decoded.ndim == 5:  # a video VAE (Qwen-Image): the image is frame 0
            decoded = decoded[:, :, 0]
        return processor.postprocess(decoded, output_type="pil")[0]


def _spatial(pipeline: Any, vae: Any, latents: Any, height: int, width: int) -> Any | None:
    """The latents as the VAE decodes them (unpacked and unnormalised), or None."""
    config = vae.config
    scale = pipeline.vae_scale_factor
    if latents.ndim == 4:  # unpacked (Z-Image): only the VAE's scaling to undo
        return latents / config.scaling_factor + (getattr(config, "shift_factor", None) or 0.0)
    if latents.ndim != 3:
        return None
    if hasattr(pipeline, "_unpatchify_latents") and hasattr(vae, "bn"):
        # Flux 2: a (batch, h*w, channels) sequence of 2x2 patches in row-major order,
        # normalised by the VAE's batch norm.
        rows, columns = int(height) // (scale * 2), int(width) // (scale * 2)
        patches = latents.permute(0, 2, 1).reshape(latents.shape[0], -1, rows, columns)
        mean = vae.bn.running_mean.view(1, -1, 1, 1).to(latents.device, latents.dtype)
        std = (vae.bn.running_var.view(1, -1, 1, 1) + config.batch_norm_eps).sqrt()
        return pipeline._unpatchify_latents(patches * std.to(latents.device, latents.dtype) + mean)
    if not hasattr(pipeline, "_unpack_latents"):
        return None
    spatial = pipeline._unpack_latents(latents, height, width, scale)
    if spatial.ndim == 5:  # Qwen-Image: normalised per channel by the VAE's statistics
        shape = (1, -1, 1, 1, 1)
        mean = latents.new_tensor(config.latents_mean).view(shape)
        std = latents.new_tensor(config.latents_std).view(shape)
        return spatial * std + mean
    # Flux: 2x2 patches, then the VAE's scaling and shift
    return spatial / config.scaling_factor + (getattr(config, "shift_factor", None) or 0.0)
