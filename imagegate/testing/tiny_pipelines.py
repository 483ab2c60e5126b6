"""Tiny, randomly initialised Diffusers pipelines, built in code and saved to a directory.

They let anyone exercise the local backend without downloading weights: each pipeline has
the real class and the real component layout (so ``from_pretrained`` loads it exactly as it
would a full model), but a few thousand parameters, makes a 64x64 image in a few hundredths
of a second on a CPU, and takes well under 2 MB on disk. The images are noise.

Every tokenizer is built from a small vocabulary in code, because the tiny test tokenizers
diffusers itself uses live on the Hub and cannot be fetched offline. Building is seeded and
leaves the caller's torch RNG untouched, so the same call writes the same weights.

Needs the ``local`` extra (torch, diffusers, transformers, peft).
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from types import ModuleType
from typing import Any

from imagegate.extras import require

__all__ = [
    "save_tiny_flux",
    "save_tiny_flux2_klein",
    "save_tiny_lora",
    "save_tiny_qwen_image",
    "save_tiny_z_image",
]

_PURPOSE = "building tiny test pipelines"

# A Qwen-style chat template: Z-Image and Flux2-Klein format every prompt through one.
_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Flux2-Klein reads the hidden states of these text-encoder layers by default; a tiny
# encoder deep enough to have them runs with the pipeline's own defaults, as a real one does.
_KLEIN_ENCODER_LAYERS = 28


def save_tiny_flux(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny `FluxPipeline` (schnell-like: no guidance embedding) and save it to `path`.

    Returns:
        The directory written, loadable with ``DiffusionPipeline.from_pretrained``.
    """
    torch, diffusers, transformers = _modules()
    clip_tokenizer = _clip_tokenizer(transformers)
    t5_tokenizer = _t5_tokenizer(transformers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = diffusers.FluxTransformer2DModel(
            patch_size=1,
            in_channels=16,  # 4 latent channels, packed in 2x2 patches
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,  # the T5 width
            pooled_projection_dim=32,  # the CLIP width
            axes_dims_rope=[4, 4, 8],  # sums to attention_head_dim
        )
        torch.manual_seed(seed)
        clip = transformers.CLIPTextModel(
            transformers.CLIPTextConfig(
                vocab_size=len(clip_tokenizer),
                hidden_size=32,
                intermediate_size=37,
                num_attention_heads=4,
                num_hidden_layers=2,
                projection_dim=32,
                max_position_embeddings=77,
                hidden_act="gelu",
                # eos id 1: with eos 2, CLIP falls back to a legacy argmax pooling.
                bos_token_id=clip_tokenizer.bos_token_id,
                eos_token_id=clip_tokenizer.eos_token_id,
                pad_token_id=clip_tokenizer.pad_token_id,
            )
        )
        torch.manual_seed(seed)
        t5 = transformers.T5EncoderModel(
            transformers.T5Config(
                vocab_size=len(t5_tokenizer),
                d_model=32,
                d_ff=37,
                d_kv=8,
                num_heads=4,
                num_layers=2,
                relative_attention_num_buckets=8,
            )
        )
        torch.manual_seed(seed)
        vae = _autoencoder_kl(
            diffusers, scaling_factor=1.5035, shift_factor=0.0609, quant_convs=False
        )
    pipeline = diffusers.FluxPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=clip,
        tokenizer=clip_tokenizer,
        text_encoder_2=t5,
        tokenizer_2=t5_tokenizer,
        transformer=transformer,
    )
    return _save(pipeline, path)


def save_tiny_z_image(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny `ZImagePipeline` and save it to `path`.

    Returns:
        The directory written, loadable with ``DiffusionPipeline.from_pretrained``.
    """
    torch, diffusers, transformers = _modules()
    tokenizer = _qwen_tokenizer(transformers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = diffusers.ZImageTransformer2DModel(
            all_patch_size=(2,),
            all_f_patch_size=(1,),
            in_channels=4,
            dim=32,
            n_layers=2,
            n_refiner_layers=1,
            n_heads=2,
            n_kv_heads=2,
            norm_eps=1e-5,
            qk_norm=True,
            cap_feat_dim=16,  # the Qwen3 width
            rope_theta=256.0,
            t_scale=1000.0,
            axes_dims=[8, 4, 4],
            axes_lens=[256, 32, 32],
        )
        # Some diffusers versions allocate the pad tokens with torch.empty (garbage or NaN).
        with torch.no_grad():
            transformer.x_pad_token.fill_(1.0)
            transformer.cap_pad_token.fill_(1.0)
        torch.manual_seed(seed)
        # The pipeline reads hidden_states[-2]: at least two layers.
        text_encoder = transformers.Qwen3Model(_qwen3_config(transformers, tokenizer, layers=2))
        torch.manual_seed(seed)
        vae = _autoencoder_kl(
            diffusers, scaling_factor=0.3611, shift_factor=0.1159, quant_convs=True
        )
    pipeline = diffusers.ZImagePipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    return _save(pipeline, path)


def save_tiny_flux2_klein(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny, step-distilled `Flux2KleinPipeline` and save it to `path`.

    Its text encoder has enough layers for the pipeline's default ``text_encoder_out_layers``
    (9, 18, 27), so it runs with the same call arguments as the released model.

    Returns:
        The directory written, loadable with ``DiffusionPipeline.from_pretrained``.
    """
    torch, diffusers, transformers = _modules()
    tokenizer = _qwen_tokenizer(transformers)
    hidden = 16
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = diffusers.Flux2Transformer2DModel(
            patch_size=1,
            in_channels=16,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=hidden * 3,  # three encoder layers are concatenated
            timestep_guidance_channels=256,
            axes_dims_rope=[4, 4, 4, 4],
            guidance_embeds=False,
        )
        torch.manual_seed(seed)
        text_encoder = transformers.Qwen3ForCausalLM(
            _qwen3_config(transformers, tokenizer, layers=_KLEIN_ENCODER_LAYERS)
        )
        torch.manual_seed(seed)
        vae = diffusers.AutoencoderKLFlux2(
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(8, 8),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=4,
            sample_size=32,
            use_quant_conv=False,
            use_post_quant_conv=False,
        )
    pipeline = diffusers.Flux2KleinPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=True,
    )
    return _save(pipeline, path)


def save_tiny_qwen_image(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny `QwenImagePipeline` (Qwen2.5-VL text encoder, Qwen-Image VAE) and save it.

    Diffusers derives its image-to-image and inpainting pipelines from it. (The edit pipeline,
    `QwenImageEditPipeline`, also needs a `Qwen2VLProcessor`, which transformers 5.23 will not
    build without a video processor, i.e. torchvision: it has no tiny counterpart here.)

    Returns:
        The directory written, loadable with ``DiffusionPipeline.from_pretrained``.
    """
    torch, diffusers, transformers = _modules()
    tokenizer = _qwen_tokenizer(transformers)
    hidden = 16
    ids = {
        "bos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
    }
    config = transformers.Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 512,
            # Multimodal RoPE: the sections sum to half the head width (8 / 2).
            "rope_scaling": {"type": "mrope", "rope_type": "default", "mrope_section": [1, 1, 2]},
            "rope_theta": 10000.0,
            **ids,
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": hidden,
            "fullatt_block_indexes": [0],
        },
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        **ids,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text_encoder = transformers.Qwen2_5_VLForConditionalGeneration(config)
        torch.manual_seed(seed)
        transformer = diffusers.QwenImageTransformer2DModel(
            patch_size=2,
            in_channels=16,  # 4 latent channels, packed in 2x2 patches
            out_channels=4,
            num_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=hidden,  # the text encoder's width
            axes_dims_rope=(8, 4, 4),  # sums to attention_head_dim
        )
        torch.manual_seed(seed)
        vae = diffusers.AutoencoderKLQwenImage(
            base_dim=8,
            z_dim=4,
            dim_mult=[1, 2],
            num_res_blocks=1,
            temperal_downsample=[False],
            latents_mean=[0.0] * 4,
            latents_std=[1.0] * 4,
        )
    pipeline = diffusers.QwenImagePipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    return _save(pipeline, path)


def save_tiny_lora(
    pipeline_dir: str | os.PathLike[str],
    lora_dir: str | os.PathLike[str],
    *,
    rank: int = 4,
    seed: int = 0,
) -> Path:
    """Attach a random, non-zero LoRA to a saved pipeline's denoiser and save it (no training).

    The adapter targets the attention projections of the transformer (or UNet) and is written
    with the pipeline class's own ``save_lora_weights``, so ``load_lora_weights`` reads it as
    it would a published LoRA.

    Returns:
        The file written, ``<lora_dir>/pytorch_lora_weights.safetensors``.
    """
    torch, diffusers, _ = _modules()
    peft = require("peft", purpose=_PURPOSE)
    pipeline = diffusers.DiffusionPipeline.from_pretrained(os.fspath(pipeline_dir))
    component = "unet" if getattr(pipeline, "unet", None) is not None else "transformer"
    denoiser = getattr(pipeline, component)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        denoiser.add_adapter(
            peft.LoraConfig(
                r=rank,
                lora_alpha=rank,
                target_modules=["to_q", "to_k", "to_v", "to_out.0"],
                init_lora_weights=False,  # random B as well as A: the adapter changes outputs
            )
        )
    layers = peft.utils.get_peft_model_state_dict(denoiser)
    target = Path(lora_dir)
    type(pipeline).save_lora_weights(os.fspath(target), **{f"{component}_lora_layers": layers})
    return target / "pytorch_lora_weights.safetensors"


def _modules() -> tuple[Any, Any, Any]:
    return (
        require("torch", purpose=_PURPOSE),
        require("diffusers", purpose=_PURPOSE),
        require("transformers", purpose=_PURPOSE),
    )


def _save(pipeline: Any, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(os.fspath(target))
    return target


def _autoencoder_kl(
    diffusers: ModuleType, *, scaling_factor: float, shift_factor: float, quant_convs: bool
) -> Any:
    return diffusers.AutoencoderKL(
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
        use_quant_conv=quant_convs,
        use_post_quant_conv=quant_convs,
        shift_factor=shift_factor,
        scaling_factor=scaling_factor,
    )


def _qwen3_config(transformers: ModuleType, tokenizer: Any, *, layers: int) -> Any:
    return transformers.Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=512,
    )


def _byte_alphabet() -> list[str]:
    # The 256 characters byte-level BPE maps bytes to: with them alone (and no merges) every
    # text tokenizes, one byte per token, without unknowns.
    pre_tokenizers = require("tokenizers.pre_tokenizers", purpose=_PURPOSE)
    return sorted(pre_tokenizers.ByteLevel.alphabet())


def _clip_tokenizer(transformers: ModuleType) -> Any:
    alphabet = _byte_alphabet()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for char in alphabet:
            vocab[char + suffix] = len(vocab)
    # Flux pads CLIP input to model_max_length; the unset default (~1e30) overflows.
    return transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _t5_tokenizer(transformers: ModuleType) -> Any:
    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces.append(("\u2581", -2.0))
    for char in string.ascii_letters + string.digits + string.punctuation:
        pieces.extend([(char, -3.0), ("\u2581" + char, -2.5)])
    return transformers.T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


def _qwen_tokenizer(transformers: ModuleType) -> Any:
    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2}
    for char in _byte_alphabet():
        vocab[char] = len(vocab)
    tokenizer = transformers.Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=512)
    tokenizer.chat_template = _CHAT_TEMPLATE
    return tokenizer
