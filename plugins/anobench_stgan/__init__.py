"""Built-in plugin: STGAN, the spatio-temporal GAN anomaly detector of the STGAN paper."""
