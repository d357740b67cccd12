"""Where HTTP meets the gateway: limits on bodies and documents, the request guard and
its error responses, token checks and the purposes a requester may claim, the parsed
document cache, and the metrics (event-loop lag included) the gateway exposes.
"""
