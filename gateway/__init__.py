"""FAME Gateway: one picture of a person, assembled at query time from each agency's own system."""
