"""An example anobench scorer plugin: the detection delay at the alert threshold set on normal footage."""
