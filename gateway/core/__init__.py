"""The ground every stage stands on: the catalogue of items and record sets, the error
types, an agency's services (need-to-know groupings), the shape of a registered agency
(``AgencyConfig``, ``Resilience``) and the gateway's clock. It imports nothing else from the
project, so the connectors and every stage above may import it.
"""
