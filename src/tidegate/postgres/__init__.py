"""PostgreSQL plumbing shared by the ``postgres`` state and audit stores: table names, a bounded pool,
versioned schema steps and the migrator that applies them (``tidegate migrate``)."""

from tidegate.postgres.migrator import MigrationReport, migrate, migrate_pool
from tidegate.postgres.names import TableNames
from tidegate.postgres.pool import PgPool

__all__ = ["MigrationReport", "PgPool", "TableNames", "migrate", "migrate_pool"]
