"""The gateway's own state and the judgements that need it: consents, break-glass grants
and their reviews, the person index, oversight (which guardian sees what), the check that
a grant's stated reason says something, and the ``Judge`` that gathers a request's facts
once and applies the policy to them. The state stores (SQLite, PostgreSQL) live here too.
"""
