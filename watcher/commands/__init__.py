"""The command line: ``gitops-watcher`` and one module per command."""
