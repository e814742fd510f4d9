"""Reads while the worker runs, on one machine: the embedded worker serves read-only SQL over
ClickHouse's HTTP interface (server.py), and local commands find it (discovery.py).

- protocol.py: the HTTP interface's requests, errors and compression (pure);
- guard.py: what a read may do, on top of the engine's readonly mode (pure);
- native.py: Native blocks for clients that name a protocol revision (pure);
- engine.py: one read-only, limited chDB session per query on the worker's directory;
- server.py: the threads that serve it; discovery.py: where it is, for local readers.
"""
