"""The pod-side programs: what runs inside the rendered pods, from the gitops-watcher image.

Kept apart from the daemon: it imports only the pure core and boto3, and its module
path is a contract in every rendered manifest (``python -m watcher.fetch``), so it
keeps that name although "fetch" means ``git fetch`` elsewhere in this project.
"""
