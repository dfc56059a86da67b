"""gitops-watcher: MLflow registry promotions become GitOps commits."""

__version__ = "0.1.0"
