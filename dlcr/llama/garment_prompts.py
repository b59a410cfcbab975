"""Stage 2 library: an instruct LLM merges an outfit's descriptions into garments and a short
inpainting prompt; its reply is parsed robustly (JSON, numbered lists, bullets)."""
from __future__ import annotations

import json
import re

import torch

from dlcr.common.stage_runner import load_pretrained

_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)]|\(\d+\)|[a-z][.)])\s+", re.IGNORECASE)
_PROMPT_LINE = re.compile(r"^\s*(?:inpainting\s+)?prompt\s*[:=-]\s*(.+)$", re.IGNORECASE)
_MAX_ITEM_CHARS = 80


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().strip("\"'`").strip(" .;,"))


def prompt_from_items(items: list[str]) -> str:
    return "a person wearing " + ", ".join(items)


def parse_garment_reply(reply: str) -> tuple[list[str], str] | None:
    """``(items, prompt)`` from an LLM reply, or None when nothing usable is in it.

    Accepts a JSON object ``{"items": [...], "prompt": "..."}`` anywhere in the text (also inside
    a code fence), or a list of garments as numbered or bulleted lines with an optional
    ``Prompt: ...`` line. Without a prompt, one is built from the items.
    """
    for match in re.finditer(r"\{.*\}", reply, flags=re.DOTALL):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            items = [_clean(str(i)) for i in data.get("items") or data.get("garments") or [] if str(i).strip()]
            prompt = _clean(str(data.get("prompt") or ""))
            if items or prompt:
                return items, prompt or prompt_from_items(items)
    items, prompt = [], ""
    for line in reply.splitlines():
        m = _PROMPT_LINE.match(line)
        if m:
            prompt = _clean(m.group(1))
            continue
        if _BULLET.match(line):
            item = _clean(_BULLET.sub("", line, count=1))
            item = re.sub(r"^[A-Za-z ]{2,20}:\s*", "", item) or item   # "Upper body: red shirt"
            if item and len(item) <= _MAX_ITEM_CHARS:
                items.append(item)
    if not items and not prompt:
        return None
    return items, prompt or prompt_from_items(items)


class GarmentSummarizer:
    """``transformers`` text-generation with the tokenizer's chat template."""

    def __init__(self, ckpt: str, device: torch.device, dtype: torch.dtype, max_new_tokens: int,
                 system_prompt: str):
        from transformers import pipeline
        self.pipe = load_pretrained(lambda c: pipeline("text-generation", model=c, dtype=dtype,
                                                       device=device, model_kwargs={"use_safetensors": True}), ckpt, "instruct LLM")
        tokenizer = self.pipe.tokenizer
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.max_new_tokens, self.system_prompt = max_new_tokens, system_prompt

    def chat(self, user_messages: list[str], batch_size: int) -> list[str]:
        chats = [[{"role": "system", "content": self.system_prompt}, {"role": "user", "content": m}]
                 for m in user_messages]
        outputs = self.pipe(chats, max_new_tokens=self.max_new_tokens, do_sample=False,
                            batch_size=batch_size)
        return [out[0]["generated_text"][-1]["content"] for out in outputs]


def outfit_message(descriptions: list[str]) -> str:
    lines = "\n".join(f"Description {i + 1}: {d}" for i, d in enumerate(descriptions))
    return f"Descriptions of one person's outfit:\n{lines}\nList the garments and write the prompt."


RETRY_MESSAGE = ('Your last answer could not be read. Answer with JSON only, exactly in this form: '
                 '{"items": ["garment 1", "garment 2"], "prompt": "a person wearing ..."}')
