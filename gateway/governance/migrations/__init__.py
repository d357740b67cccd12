"""Alembic migrations of the state database: ``env.py`` and one revision per schema change.

Run by ``fame-gateway db upgrade`` (and at start-up in demo mode) through
``gateway.governance.migrate``, which holds the configuration in code: there is no
``alembic.ini`` to ship or to point at the right database.
"""
