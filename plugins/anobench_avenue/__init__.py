"""Built-in plugin: the CUHK Avenue dataset (Lu, Shi, Jia, ICCV 2013), read from the official files users bring.

See ``datasets/avenue.md`` for where to get the files, how to lay them out, and the two label conventions.
"""
