"""The state store: SQLAlchemy 2 models, Alembic migrations, and the operations on them."""
