"""Reliability suite: faults, overload and hostile input (``-m reliability``)."""
