"""`LocalConfig`: where a local model lives, which device runs it, and how requests are batched."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LocalConfig"]


class LocalConfig(BaseModel):
    """How a `LocalBackend` loads and runs its pipeline.

    Example:
        >>> LocalConfig(model_path="/models/flux-schnell", gpu_cost_per_hour=0.8).device
        'auto'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_path: str | None = Field(
        None,
        description="A local Diffusers directory or a Hub id; default: the catalog's "
        "provider_model. Hub ids load from the Hugging Face cache (HF_HUB_OFFLINE is honoured).",
    )
    download: bool = Field(
        False,
        description="Download a Hub model missing from the cache when first used (many GB). "
        "Off: such a model is unavailable (the router passes it over) until it is downloaded "
        "(`hf download <id>`), so no request waits on a download.",
    )
    device: Literal["auto", "cuda", "mps", "cpu"] = Field(
        "auto", description="auto: CUDA if present, else Apple MPS, else the CPU."
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto",
        description="auto: bfloat16 on CUDA (float16 where the GPU lacks bfloat16) and MPS, "
        "float32 on the CPU.",
    )
    cpu_offload: bool = Field(
        False,
        description="Keep weights in RAM and move each component to the GPU only while it runs "
        "(slower, far less GPU memory). Ignored on the CPU.",
    )
    max_batch: int = Field(4, ge=1, description="Most images one pipeline call makes.")
    batch_window_ms: float = Field(
        10.0,
        ge=0,
        description="How long the first request waits for others to share its pipeline call.",
    )
    gpu_cost_per_hour: float | None = Field(
        None,
        ge=0,
        description="What the device costs you per hour, in USD; None: the catalog entry's rate "
        "(0 in the shipped catalog, or a policy's gpu_cost_per_hour).",
    )
    loras: dict[str, str] = Field(
        default_factory=dict,
        description="LoRA names requests may use → a .safetensors file, a directory or a Hub id.",
    )
    steps: int | None = Field(
        None, ge=1, description="Denoising steps; None: the model family's default."
    )
    guidance: float | None = Field(
        None, ge=0, description="Guidance scale; None: the model family's default."
    )
