"""Built-in plugin: ShanghaiTech Campus (Liu et al., CVPR 2018), read from the files users bring, and a generator
that writes generated footage in the same layout. See ``datasets/shanghaitech.md``."""
