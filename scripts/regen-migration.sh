#!/usr/bin/env bash
# Regenerate the single initial migration (alembic/versions/*_initial.py) from the models as they
# are now, against a scratch SQLite database, then apply it to a second scratch database and check
# that every table of SQLModel.metadata exists. Pre-release only: it rewrites history.
#   usage: scripts/regen-migration.sh      (or: make migration)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [[ -x "$root/.venv/bin/reflex" ]]; then
    export PATH="$root/.venv/bin:$PATH"
fi
export REFLEX_CHECK_LATEST_VERSION=false REFLEX_TELEMETRY_ENABLED=false

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# rxconfig.py pins REFLEX_DB_URL to PORTAL_DB_URL, so this one variable is enough.
export PORTAL_DB_URL="sqlite:///$scratch/regen.db"

rm -f alembic/versions/*.py
rm -rf alembic/versions/__pycache__
reflex db makemigrations --message initial
shopt -s nullglob
files=(alembic/versions/*.py)
if [[ ${#files[@]} -ne 1 ]]; then
    echo "expected exactly one migration, found ${#files[@]}" >&2
    exit 1
fi
echo "generated ${files[0]}"

export PORTAL_DB_URL="sqlite:///$scratch/check.db"
reflex db migrate
python - <<'PY'
import sqlalchemy as sa
from sqlmodel import SQLModel

import portal_app.models  # noqa: F401
from portal_app.config import load_settings

engine = sa.create_engine(load_settings().db_url)
have = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
want = set(SQLModel.metadata.tables)
missing, extra = sorted(want - have), sorted(have - want)
if missing or extra:
    raise SystemExit(f"migration mismatch: missing={missing} extra={extra}")
print(f"migration creates all {len(want)} tables")
PY
