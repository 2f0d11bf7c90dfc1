"""Built-in plugin: the UCSD Anomaly Detection Dataset (Ped1 and Ped2), read from the files users bring."""
