"""Answering a query once it is decided what may be shared: the planner turns the
query into what to ask of each agency, the fan-out asks them all at once through each
agency's guard (time budget, concurrency, circuit breaker), the cache keeps answers an
agency allows to be kept, and execution assembles the person. ``context`` is what a
request may use of the running gateway.
"""
