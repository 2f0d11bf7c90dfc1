"""Built-in plugin: the ``video-folder`` dataset (your own videos or frame folders, optional labels and poses)."""
