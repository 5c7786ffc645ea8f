"""I/O shared by both ends: how frames are written to ``websockets`` connections.

Neither server nor client: :mod:`.batching` is used by the server's standalone
transport and by the client's connection alike.
"""
