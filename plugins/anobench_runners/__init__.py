"""Built-in sweep runners: serial (this process), process (a process pool, one job per GPU) and dask."""
