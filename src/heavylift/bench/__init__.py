"""Measurements: `heavylift bench` (sweeps against a served model or an endpoint, each figure beside
the planner's prediction and the machine's physical limit, stored in the database)."""
