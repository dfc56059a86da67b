"""MLflow model registries as a source: REST or database readers, copies, probe, tags."""
