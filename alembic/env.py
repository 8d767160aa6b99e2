"""Alembic environment for the plain `alembic` CLI.

`reflex db makemigrations | migrate | status` do not run this file: Reflex configures alembic
itself (target metadata = every imported SQLModel table, batch mode for SQLite). This file mirrors
that setup so `alembic upgrade head`, `alembic history` etc. give the same result."""

from logging.config import fileConfig

from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import portal_app.models  # noqa: F401  (registers every table on SQLModel.metadata)
from alembic import context
from portal_app.config import load_settings

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

config.set_main_option("sqlalchemy.url", load_settings().db_url.replace("%", "%%"))
target_metadata = SQLModel.metadata


def _render_item(type_, obj, autogen_context):
    autogen_context.imports.add("import sqlmodel")
    return False


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,
        render_item=_render_item,
        compare_type=False,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
