"""Test tooling: the pytest plugin, its handle, the server thread, the receiver, the control client."""
