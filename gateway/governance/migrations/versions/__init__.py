"""The state database's revisions, oldest first (Alembic loads each file by path)."""
