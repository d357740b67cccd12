"""Loading what the gateway is told before it serves: the settings file, each agency's
registration, the sharing protocol (its purposes, clauses and rendered text) and, in demo
mode, the keys that sign practitioners' tokens. Files are read and validated once, at
start-up; a request only ever reads the result.
"""
