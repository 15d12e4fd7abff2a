"""Tiny model-soups checkpoints: OpenAI CLIP's state-dict layout with random weights."""

import torch

WIDTH, HEADS, PATCH, IMG, EMBED, CLASSES = 16, 2, 16, 32, 8, 5
TINY = (f"vit_base_patch32_clip_quickgelu_224?img_size={IMG}&patch_size={PATCH}"
        f"&embed_dim={WIDTH}&depth=1&num_heads={HEADS}")


def clip_state(gen: torch.Generator) -> dict[str, torch.Tensor]:
    r = lambda *s: torch.randn(*s, generator=gen) * 0.3  # noqa: E731
    grid = (IMG // PATCH) ** 2
    v = "model.visual."
    sd = {
        v + "class_embedding": r(WIDTH), v + "positional_embedding": r(grid + 1, WIDTH),
        v + "conv1.weight": r(WIDTH, 3, PATCH, PATCH), v + "proj": r(WIDTH, EMBED),
        v + "ln_pre.weight": 1 + r(WIDTH), v + "ln_pre.bias": r(WIDTH),
        v + "ln_post.weight": 1 + r(WIDTH), v + "ln_post.bias": r(WIDTH),
        "model.logit_scale": torch.tensor(4.6), "model.token_embedding.weight": r(10, EMBED),
        "classification_head.weight": r(CLASSES, EMBED), "classification_head.bias": r(CLASSES),
    }
    b = v + "transformer.resblocks.0."
    sd |= {b + "attn.in_proj_weight": r(3 * WIDTH, WIDTH), b + "attn.in_proj_bias": r(3 * WIDTH),
           b + "attn.out_proj.weight": r(WIDTH, WIDTH), b + "attn.out_proj.bias": r(WIDTH),
           b + "ln_1.weight": 1 + r(WIDTH), b + "ln_1.bias": r(WIDTH),
           b + "ln_2.weight": 1 + r(WIDTH), b + "ln_2.bias": r(WIDTH),
           b + "mlp.c_fc.weight": r(4 * WIDTH, WIDTH), b + "mlp.c_fc.bias": r(4 * WIDTH),
           b + "mlp.c_proj.weight": r(WIDTH, 4 * WIDTH), b + "mlp.c_proj.bias": r(WIDTH)}
    return sd
