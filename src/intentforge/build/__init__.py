"""`intentforge build`: the whole pipeline as content-addressed stages."""
