"""High-level layer: streams, datagrams, sequenced packets, raw sockets."""
