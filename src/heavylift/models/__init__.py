"""Models: GGUF header reading, the model store and the built-in default model."""
