"""Runs the database migrations of the host and of every plugin.

Each set of migrations (the host's, then each plugin's from
``ichnaea_migration_dirs``) keeps its own history table, named after its
namespace, so two plugins' ``001_initial`` never collide.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import peewee
from peewee_migrate import Router
from peewee_migrate.models import MigrateHistory

from ichnaea_host.core.log import get_logger
from ichnaea_host.core.sections import MigrationDir

log = get_logger("ichnaea.migrate")

HOST_MIGRATIONS = MigrationDir("host", Path(__file__).parent / "migrations")


class NamespacedRouter(Router):
    """A peewee-migrate router whose history lives in ``migratehistory_<namespace>``."""

    def __init__(self, database: peewee.Database, namespace: str, migrate_dir: Path) -> None:
        super().__init__(database, migrate_dir=migrate_dir,
                         migrate_table=f"migratehistory_{namespace}")
        self.namespace = namespace

    @property
    def model(self) -> type[MigrateHistory]:  # type: ignore[override]
        cached = self.__dict__.get("_history_model")
        if cached is None:
            meta = type("Meta", (), {"database": self.database, "table_name": self.migrate_table})
            # a model class of its own per namespace (its table's name)
            cached = cast("type[MigrateHistory]",
                          type(f"History_{self.namespace}", (MigrateHistory,),
                               {"Meta": meta, "__module__": __name__}))
            cached.create_table(safe=True)
            self.__dict__["_history_model"] = cached
        return cached


@dataclasses.dataclass
class MigrationStatus:
    namespace: str
    done: list[str]
    pending: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _routers(database: peewee.Database, dirs: list[MigrationDir]) -> list[NamespacedRouter]:
    return [NamespacedRouter(database, d.namespace, d.path) for d in [HOST_MIGRATIONS, *dirs]]


def upgrade(database: peewee.Database, dirs: list[MigrationDir]) -> list[str]:
    """Apply every pending migration; return the names applied (``ns:name``)."""
    applied = []
    for router in _routers(database, dirs):
        for name in router.diff:
            router.run_one(name, router.migrator, fake=False)
            applied.append(f"{router.namespace}:{name}")
            log.info("migration_applied", namespace=router.namespace, migration=name)
    return applied


def status(database: peewee.Database, dirs: list[MigrationDir]) -> list[MigrationStatus]:
    return [MigrationStatus(r.namespace, r.done, r.diff) for r in _routers(database, dirs)]


def pending(database: peewee.Database, dirs: list[MigrationDir]) -> list[str]:
    return [f"{s.namespace}:{name}" for s in status(database, dirs) for name in s.pending]


def version(database: peewee.Database, dirs: list[MigrationDir]) -> str:
    """The schema's version, read without writing: the last migration applied
    in each namespace as ``namespace:name``, sorted and joined by ``,`` (the
    shape of the original's ``alembic_version``, one head per branch)."""
    tables = set(database.get_tables())
    heads = []
    for d in [HOST_MIGRATIONS, *dirs]:
        name = f"migratehistory_{d.namespace}"
        if name not in tables:
            continue
        table = peewee.Table(name).bind(database)
        row = table.select(table.c.name).order_by(table.c.id.desc()).limit(1).tuples().first()
        if row:
            heads.append(f"{d.namespace}:{row[0]}")
    return ",".join(sorted(heads))
