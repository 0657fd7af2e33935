"""Persistence: typed models, Alembic migrations, the unit of work, search, DB-side guards."""
