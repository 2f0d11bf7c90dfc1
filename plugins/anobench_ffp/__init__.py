"""Built-in plugin: future frame prediction (Liu et al., CVPR 2018)."""
