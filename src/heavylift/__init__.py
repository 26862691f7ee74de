"""heavylift: plan, run and measure very large open LLMs on hardware you own."""

__version__ = "0.1.0"
