"""Alembic revisions of the store, oldest first by `down_revision`; a package so the wheel ships them."""
