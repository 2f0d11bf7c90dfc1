"""Built-in plugin: pixel- and region-level localization metrics (pixel AUROC, RBDC, TBDC)."""
