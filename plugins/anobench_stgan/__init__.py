"""Built-in plugin: STGAN, the spatio-temporal GAN anomaly detector of seed paper 000."""
