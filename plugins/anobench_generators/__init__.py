"""Built-in generators (``anobench data generate``) and the generated datasets drawn with them."""
