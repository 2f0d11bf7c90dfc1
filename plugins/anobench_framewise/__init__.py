"""Built-in plugin: seed 002's frame-wise baselines, a convolutional AE and VAE on single skeleton maps."""
