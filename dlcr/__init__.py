"""DLCR clothing augmentation (Siddiqui et al., WACV 2025) as four resumable stages:
describe clothes (LLaVA) -> summarise into prompts (LLaMA) -> parse clothes masks (SCHP) ->
repaint clothes (Stable Diffusion inpainting)."""
