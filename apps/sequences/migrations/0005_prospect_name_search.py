"""Indexes for finding a prospect by the start of a first or last name (the sync log's search,
apps/sequences/selectors.py prospects_by_name): lower(name) with text_pattern_ops, which a
`LIKE 'gra%'` can use whatever the database's collation. PostgreSQL only: SQLite (the local
demo) has no operator classes, and its LIKE cannot use an expression index anyway."""

from django.db import migrations

INDEXES = {
    "prospect_first_name_search": "first_name",
    "prospect_last_name_search": "last_name",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON sequences_prospect "
            f"(lower({column}) text_pattern_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("sequences", "0004_header_values_without_control_characters")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
