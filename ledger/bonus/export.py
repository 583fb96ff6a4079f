"""A statement as finance files it: CSV (one row per member) or JSON (the statement with its hash)."""

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from cellorg.ledger.bonus.models import BonusStatement

CSV_COLUMNS = ("person_id", "name", "role", "points", "weight", "amount", "currency", "entries")


def statement_json(statement: BonusStatement, names: Mapping[int, str]) -> str:
    document: dict[str, Any] = {
        "statementId": statement.id,
        "statementHash": "0x" + statement.statement_hash.hex(),
        "names": {str(person): names.get(person) for person in sorted(_people(statement))},
        "content": statement.content,
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def statement_csv(statement: BonusStatement, names: Mapping[int, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    currency = statement.content["round"]["currency"]
    for line in statement.content["lines"]:
        writer.writerow(
            (
                line["personId"],
                names.get(line["personId"], ""),
                line["role"] or "",
                line["points"],
                line["weight"],
                line["amount"],
                currency,
                " ".join(str(seq) for seq in line["entries"]),
            )
        )
    return out.getvalue()


def _people(statement: BonusStatement) -> set[int]:
    return {line["personId"] for line in statement.content["lines"]}
