#!/bin/bash
# Creates or updates touchpulse's least-privilege ClickHouse users (see infra/clickhouse/users.sql).
#
# Mounted into /docker-entrypoint-initdb.d/ of the clickhouse/clickhouse-server image, whose
# entrypoint runs it (or sources it, if the file lost its executable bit) while the server
# listens on 127.0.0.1 only. Every statement is idempotent; with
# CLICKHOUSE_ALWAYS_RUN_INITDB_SCRIPTS=1 it runs on every start, so infra/.env stays the
# single source of the passwords.
#
# Environment:
#   CLICKHOUSE_ADMIN_PASSWORD, CLICKHOUSE_WRITER_PASSWORD, CLICKHOUSE_READER_PASSWORD  required
#   TOUCHPULSE_DATABASE        database the grants cover (default touchpulse)
#   CLICKHOUSE_USER / CLICKHOUSE_PASSWORD   a user with access management (the image's bootstrap user)
#   CLICKHOUSE_HOST / CLICKHOUSE_PORT       default 127.0.0.1 / 9000 (native protocol)
#   USERS_SQL                  the template (default /etc/touchpulse/users.sql)
#
# Run by hand against your own server (needs clickhouse-client), or with --print to write the
# filled-in SQL to standard output for another tool (it then contains the passwords).
# No `exit` and no global variables outside the function: the entrypoint may source this file.

touchpulse_users() {
    local template="${USERS_SQL:-/etc/touchpulse/users.sql}"
    local database="${TOUCHPULSE_DATABASE:-touchpulse}"
    local name value sql

    if [[ ! "$database" =~ ^[A-Za-z_][A-Za-z0-9_]{0,63}$ ]]; then
        echo "touchpulse-users: TOUCHPULSE_DATABASE='$database' is not a plain identifier (letters, digits, _)" >&2
        return 1
    fi
    for name in CLICKHOUSE_ADMIN_PASSWORD CLICKHOUSE_WRITER_PASSWORD CLICKHOUSE_READER_PASSWORD; do
        if [ -z "${!name}" ]; then
            echo "touchpulse-users: $name is not set (see infra/.env.example)" >&2
            return 1
        fi
    done
    if [ ! -r "$template" ]; then
        echo "touchpulse-users: cannot read the template $template" >&2
        return 1
    fi

    sql="$(<"$template")"
    value="$sql"
    for name in database admin_password writer_password reader_password definer_password; do
        value="${value//"{{${name}}}"/}"
    done
    if [[ "$value" == *"{{"* ]]; then
        echo "touchpulse-users: $template has a placeholder this script does not fill" >&2
        return 1
    fi

    sql="${sql//"{{database}}"/"$database"}"
    for name in admin writer reader definer; do
        if [ "$name" = definer ]; then
            # Never stored and never shown: no one can log in as the view definer.
            value="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        else
            value="$(_touchpulse_sql_string "CLICKHOUSE_${name^^}_PASSWORD")"
        fi
        sql="${sql//"{{${name}_password}}"/"$value"}"
    done
    if [ "${1:-}" = "--print" ]; then
        printf '%s\n' "$sql"
        return 0
    fi
    printf '%s\n' "$sql" | clickhouse-client --multiquery \
        --host "${CLICKHOUSE_HOST:-127.0.0.1}" --port "${CLICKHOUSE_PORT:-9000}" \
        --user "${CLICKHOUSE_USER:-default}" --password "${CLICKHOUSE_PASSWORD:-}" || {
        echo "touchpulse-users: applying $template failed (see the error above)" >&2
        return 1
    }
    echo "touchpulse-users: touchpulse_admin, touchpulse_writer, touchpulse_reader ready for database $database"
}

# The value of the variable named $1, escaped for the inside of a '...' SQL string literal.
_touchpulse_sql_string() {
    local v="${!1}"
    v="${v//\\/\\\\}"
    v="${v//\'/\\\'}"
    printf '%s' "$v"
}

touchpulse_users "$@"
