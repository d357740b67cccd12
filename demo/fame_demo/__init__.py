"""Demo and test fixtures: a synthetic population and the agencies' own systems that hold it.

Nothing here is part of the gateway itself. The gateway reaches these systems only
through the connectors registered in ``config/agencies``, exactly as it would reach a
real council, trust or practice system.
"""
