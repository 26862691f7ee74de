"""Tiny llama GGUFs for the tests: the writer lives in the package (bench --calibrate writes one too)."""

from heavylift.models.tiny_gguf import TinyShape, add_spm_vocab, write_tiny_llama

__all__ = ["TinyShape", "add_spm_vocab", "write_tiny_llama"]
