"""heavylift verify: is a quant good enough for my documents? Compare it with a reference."""
