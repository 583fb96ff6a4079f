"""Where every table is registered for Alembic, without ``core`` importing a domain by name."""

import importlib

MODEL_MODULES = (
    "cellorg.core.jobs",
    "cellorg.org.models",
    "cellorg.permissions.models",
    "cellorg.projects.models",
    "cellorg.talent_pool.models",
    "cellorg.ledger.models",
    "cellorg.ledger.bonus.models",
)


def import_all_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
