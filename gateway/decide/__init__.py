"""Deciding, for one requester and one person, which items may be shared and why not
the rest: the policy (a pure function of the protocol, the requester, the person's facts
and consent) and the requester it is asked about. Nothing here touches storage or the
network.
"""
