"""`heavylift cost`: local against API monthly cost, with capacity, compute-once prefixes, cache
and batch pricing, and the context check (model.py holds the formulas, prices.json the prices)."""
