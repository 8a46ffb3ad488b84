#!/usr/bin/env bash
# Run once by the postgres image's entrypoint on an empty data directory (/docker-entrypoint-initdb.d):
# one role and one database per service, each database closed to every other role, so todos cannot read
# identity's tables even with its own password. The passwords come from the postgres-secrets Secret.
# Ref: https://github.com/docker-library/docs/blob/master/postgres/README.md#initialization-scripts
set -euo pipefail
for service in identity todos reminders shares web; do
    password_var="${service^^}_DB_PASSWORD"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v name="$service" -v password="${!password_var}" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
