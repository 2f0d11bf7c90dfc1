"""Built-in plugin: SRNN-style temporally-coherent sparse coding (Luo, Liu and Gao, ICCV 2017)."""
