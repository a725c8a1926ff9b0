#!/bin/sh
# Run once by the postgres image after 01-printers.sql (docker-entrypoint-initdb.d): the
# role the exporter connects as. It may read the printers table and nothing else, as
# the README recommends; the password comes from EXPORTER_DB_PASSWORD (.env), passed to
# psql as a variable so it is never part of a command line or a logged statement.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
     --dbname familyRewardDb -v password="$EXPORTER_DB_PASSWORD" <<'SQL'
CREATE ROLE exporter LOGIN PASSWORD :'password';
REVOKE ALL ON DATABASE "familyRewardDb" FROM PUBLIC;
GRANT CONNECT ON DATABASE "familyRewardDb" TO exporter;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO exporter;
GRANT SELECT ON printers TO exporter;
SQL
