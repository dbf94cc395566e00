"""The pipeline behind `intentforge build`: the plan of stages, each skipped when current."""
