"""Stage 1 library: ask a LLaVA-family model about a person's clothes.

Works with any image-text-to-text model of ``transformers`` whose processor has a chat template:
LLaVA 1.5 (``LlavaForConditionalGeneration``), LLaVA-NeXT, LLaVA-OneVision, through
``AutoModelForImageTextToText`` / ``AutoProcessor``.
"""
from __future__ import annotations

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from dlcr.common.stage_runner import load_pretrained


class ClothesDescriber:
    def __init__(self, ckpt: str, device: torch.device, dtype: torch.dtype, max_new_tokens: int = 96):
        self.processor = load_pretrained(AutoProcessor.from_pretrained, ckpt, "LLaVA processor")
        self.model = load_pretrained(
            lambda c: AutoModelForImageTextToText.from_pretrained(c, dtype=dtype, use_safetensors=True), ckpt, "LLaVA model"
        ).to(device).eval()
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"   # decoder-only batched generation
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
        self.device, self.dtype, self.max_new_tokens = device, dtype, max_new_tokens

    @torch.no_grad()
    def describe(self, images: list[Image.Image], question: str) -> list[str]:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = self.processor(images=images, text=[prompt] * len(images), return_tensors="pt",
                                padding=True)
        inputs = {k: (v.to(self.device, self.dtype) if torch.is_floating_point(v) else v.to(self.device))
                  for k, v in inputs.items()}
        out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = out[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]
