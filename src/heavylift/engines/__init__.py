"""Engines: one interface, a registry, and implementations reached only over HTTP."""

from heavylift.engines.base import Engine, EngineCapabilities
from heavylift.engines.client import EngineClient
from heavylift.engines.registry import create_engine, engine_names, register_engine

__all__ = ["Engine", "EngineCapabilities", "EngineClient", "create_engine", "engine_names", "register_engine"]
