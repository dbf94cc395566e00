"""Datasets: the template and LLM generators, JSONL I/O, dedup, train/test split and stats."""
