"""The gateways people would pick instead of FAME, run against the same sources.

``dataloader``: graphene 3 with one DataLoader per source, on Starlette. ``hive``: Hive
Gateway (Node) serving a supergraph composed from OpenAPI descriptions of the HTTP
agencies (``openapi``). ``normalise`` turns any variant's answer into the same shape, so
that answers of differently shaped schemas can be checked equal.
"""
