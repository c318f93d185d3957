#!/usr/bin/env bash
# Careplan's two PostgreSQL roles, created once when the postgres container initialises its data
# folder (mounted into /docker-entrypoint-initdb.d/, run as the superuser POSTGRES_USER):
#
#   careplan_owner  owns the database and its schema; only the one-shot `careplan db upgrade`
#                   logs in as it (migrations create tables, indexes, triggers).
#   careplan_app    what the API logs in as: SELECT, INSERT, UPDATE, DELETE on the tables and
#                   nothing more. It owns nothing, so it cannot drop or alter a table, disable
#                   the triggers that keep signed notes and the audit trail immutable, TRUNCATE,
#                   or switch triggers off with session_replication_role (superuser only).
#
# Default privileges make every table and sequence the owner creates later (each migration)
# available to the app role without a new grant. Neither role is a superuser.
#
# Needs CAREPLAN_DB_OWNER_PASSWORD and CAREPLAN_DB_APP_PASSWORD; the role names may be changed
# with CAREPLAN_DB_OWNER and CAREPLAN_DB_APP_USER.
set -euo pipefail

owner="${CAREPLAN_DB_OWNER:-careplan_owner}"
app="${CAREPLAN_DB_APP_USER:-careplan_app}"
database="${POSTGRES_DB:?POSTGRES_DB names the database}"
: "${CAREPLAN_DB_OWNER_PASSWORD:?set CAREPLAN_DB_OWNER_PASSWORD}"
: "${CAREPLAN_DB_APP_PASSWORD:?set CAREPLAN_DB_APP_PASSWORD}"

psql --set ON_ERROR_STOP=1 --no-psqlrc --quiet \
    --username "${POSTGRES_USER:-postgres}" --dbname "$database" \
    --set owner="$owner" --set app="$app" --set database="$database" \
    --set owner_password="$CAREPLAN_DB_OWNER_PASSWORD" \
    --set app_password="$CAREPLAN_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';

ALTER DATABASE :"database" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"app";

ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";

-- tables that exist already (none on a fresh volume; an older deployment's otherwise)
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
SQL
