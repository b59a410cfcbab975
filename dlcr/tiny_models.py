"""Tiny, randomly initialised models of every DLCR stage, built and saved locally (no downloads):
LLaVA, a Llama chat model, a Stable Diffusion inpainting pipeline, a SegFormer and an SCHP
checkpoint in the official layout. Their outputs are noise; they exist so the whole pipeline can
be run and tested offline (tests, the DLCR walk-through of docs/dlcr.md). Real runs use real
checkpoints (configs/dlcr.yaml)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] | upper }}: {% if m['content'] is string %}"
                 "{{ m['content'] }}{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}"
                 "<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}\n{% endfor %}"
                 "{% if add_generation_prompt %}ASSISTANT:{% endif %}")


def tiny_tokenizer(with_image_token: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    specials = ["<unk>", "<s>", "</s>", "<pad>"] + (["<image>"] if with_image_token else [])
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["a person wearing a red shirt and blue jeans", "describe the clothes of this person",
              "USER: ASSISTANT: system user", '{"items": ["red shirt"], "prompt": "a person"}'] * 10
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def save_tiny_llava(path: Path) -> str:
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)
    torch.manual_seed(0)
    tok = tiny_tokenizer(True)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, image_size=32, patch_size=8, projection_dim=32)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                       pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = LlavaForConditionalGeneration(LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default", vision_feature_layer=-1))
    processor = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                  crop_size={"height": 32, "width": 32}),
                               tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                               num_additional_image_tokens=1, chat_template=CHAT_TEMPLATE, image_token="<image>")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return str(path)


def save_tiny_llama(path: Path) -> str:
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    tok = tiny_tokenizer(False)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                                         eos_token_id=tok.eos_token_id))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def save_tiny_sd_inpaint(path: Path) -> str:
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    torch.manual_seed(0)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "pe": 2, "per": 3}
    for c in "abcdefghijklmnopqrstuvwxyz,.":
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    for word in ("a", "person", "wearing", "red", "blue", "shirt", "jeans"):
        vocab.setdefault(word + "</w>", len(vocab))
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp)
        (tok_dir / "vocab.json").write_text(json.dumps(vocab))
        (tok_dir / "merges.txt").write_text("#version: 0.2\np e\npe r\n")
        tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37,
                                                num_hidden_layers=2, num_attention_heads=2,
                                                max_position_embeddings=77, projection_dim=32))
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=9,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=8)
    vae = AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4)
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                          scheduler=DDIMScheduler(steps_offset=1), safety_checker=None,
                                          feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(path)
    return str(path)


def save_tiny_segformer(path: Path) -> str:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor
    from dlcr.schp.label_sets import LABELS
    torch.manual_seed(0)
    labels = LABELS["atr"]
    config = SegformerConfig(num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                             hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 1],
                             mlp_ratios=[2, 2], decoder_hidden_size=16, num_labels=len(labels),
                             id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    SegformerForSemanticSegmentation(config).save_pretrained(path)
    SegformerImageProcessor(size={"height": 64, "width": 32}).save_pretrained(path)
    return str(path)


def save_random_schp(path: Path, num_classes: int = 20) -> str:
    """A randomly initialised SCHP checkpoint in the official layout: {"state_dict": {"module.*"}}
    without num_batches_tracked buffers (the official InPlaceABN has none)."""
    from dlcr.schp.schp_network import SCHPParser
    torch.manual_seed(0)
    model = SCHPParser(num_classes)
    for m in model.modules():  # negative BN weights occur in real checkpoints: exercise |w|
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, -1.0, 1.0)
            torch.nn.init.uniform_(m.running_var, 0.5, 2.0)
    state = {f"module.{k}": v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state, "epoch": 150}, path)
    return str(path)
