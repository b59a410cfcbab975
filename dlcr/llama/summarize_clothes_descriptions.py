"""DLCR stage 2: turn each outfit's descriptions into garments and a short inpainting prompt.

Reads stage 1's JSONL, groups descriptions by outfit and asks an instruct LLM (Llama family,
through transformers' text-generation with the tokenizer's chat template). The reply is parsed
as JSON, a numbered list or bullets; an unreadable reply is retried once with a stricter
request, then recorded with an "error" field (never dropped). One JSON line per outfit:
{"outfit", "pid", "items": [...], "prompt", "reply", "model"[, "error"]}.

    python dlcr/llama/summarize_clothes_descriptions.py --src data/dlcr/desc.jsonl --out data/dlcr/prompts.jsonl
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from gaitcore.cli import run_script, setup_logging
from gaitcore.errors import UserInputError
from gaitcore.jsonl_records import read_records
from dlcr.common.stage_runner import (LazyModel, add_stage_arguments, check_stage_arguments, read_stage_defaults,
                                      resolve_device, resolve_dtype, run_stage, summary)
from dlcr.llama.garment_prompts import RETRY_MESSAGE, outfit_message, parse_garment_reply

# The options of the `llama` block of the config: key -> (conversion, value when absent).
CONFIG_FIELDS = {"max_new_tokens": (int, 160), "system_prompt": (str, None)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = read_stage_defaults(argv, "llama", CONFIG_FIELDS)
    p = argparse.ArgumentParser(description=__doc__, epilog=defaults.note,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="stage 1 JSONL (descriptions)")
    p.add_argument("--out", required=True, help="output JSONL (prompts)")
    p.add_argument("--max-new-tokens", type=int, default=defaults.get("max_new_tokens"),
                   help=f"length limit of each summary in tokens (default {defaults.get('max_new_tokens')}, "
                        "config)")
    p.add_argument("--system-prompt", default=defaults.get("system_prompt"),
                   help="instructions given to the LLM (default: config)")
    add_stage_arguments(p, defaults)
    args = p.parse_args(argv)
    defaults.stop_on_problem(p)
    check_stage_arguments(p, args)
    if not args.system_prompt:
        p.error("--system-prompt: none given and the config has none")
    return args


def main(args: argparse.Namespace) -> int:
    setup_logging()
    read = Counter()
    descriptions = read_records(args.src, counts=read)
    if not descriptions:
        raise UserInputError(f"{args.src}: no descriptions (run extract_clothes_descriptions.py first)")
    grouped = defaultdict(list)
    for rec in descriptions.values():
        if rec.get("text") and not rec.get("error"):
            grouped[rec["outfit"]].append(rec)
    outfits = sorted(grouped)
    device = resolve_device(args.device)
    counts = Counter(outfits=len(outfits))
    if read["torn_last_lines"]:
        counts["input_torn_last_lines"] = read["torn_last_lines"]

    def load_summarizer():
        from dlcr.llama.garment_prompts import GarmentSummarizer
        return GarmentSummarizer(args.ckpt, device, resolve_dtype(args.dtype, device), args.max_new_tokens,
                                 args.system_prompt)

    summarizer = LazyModel(load_summarizer)

    def process(batch):
        llm = summarizer()
        messages = [outfit_message([r["text"] for r in grouped[o]]) for o in batch]
        replies = llm.chat(messages, args.batch_size)
        parsed = [parse_garment_reply(r) for r in replies]
        retry = [i for i, p in enumerate(parsed) if p is None]
        if retry:
            counts["retried"] += len(retry)
            again = llm.chat([messages[i] + "\n" + RETRY_MESSAGE for i in retry], args.batch_size)
            for i, reply in zip(retry, again):
                replies[i], parsed[i] = reply, parse_garment_reply(reply)
        records = []
        for outfit, reply, p in zip(batch, replies, parsed):
            rec = {"outfit": outfit, "pid": grouped[outfit][0]["pid"], "items": p[0] if p else [],
                   "prompt": p[1] if p else "", "reply": reply, "model": args.ckpt}
            if p is None:
                rec["error"] = "reply not parsable after one retry"
            records.append(rec)
        return records

    run_stage("summarize", outfits, lambda o: o, Path(args.out), process, args, record_key="outfit",
              counts=counts)
    print(summary("summarize_clothes_descriptions", counts, Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, parse_args()))
