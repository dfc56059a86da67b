"""The reconcile spine: read every source, copy what releases serve, render, plan, publish, record.

It calls adapters only through the ports (Protocols) defined beside the code that calls them."""
