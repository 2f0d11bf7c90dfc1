"""Built-in plugin: the frame-wise baselines of the skeleton LSTM-VAE paper, a convolutional AE and VAE on single
skeleton maps."""
