"""Built-in plugin: LSTM-VAE on sequential skeleton maps (seed 002)."""
