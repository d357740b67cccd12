"""Connectors to agencies' own systems: the Connector protocol, its kinds and registry."""
