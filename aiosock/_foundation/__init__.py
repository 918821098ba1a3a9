"""Foundation layer: errors, concepts, addresses, endpoints, options, loop selection.

Nothing here does event-loop I/O except the ``resolve`` helpers.
"""
