"""Built-in plugin: the industrial-accident setting of the STGAN and skeleton LSTM-VAE papers (``industrial``, on
the user's own recordings with OpenPose output) and a generator of the same files (``synthetic-industrial``)."""
