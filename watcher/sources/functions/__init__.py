"""Function specs (MLRun, DigitalHub) in a folder or a git repository as a source."""
