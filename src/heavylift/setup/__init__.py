"""Installing what heavylift runs: the llama.cpp engine build and the default model."""
