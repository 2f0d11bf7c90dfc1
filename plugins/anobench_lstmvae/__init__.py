"""Built-in plugin: LSTM-VAE on sequential skeleton maps (the skeleton LSTM-VAE paper)."""
