"""Source plug-ins: each package reads one kind of input and yields releases."""
