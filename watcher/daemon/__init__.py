"""The long-running service behind ``gitops-watcher run``: triggers, runner, endpoints."""
