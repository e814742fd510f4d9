#!/bin/sh
# Create infra/.env from infra/.env.example (or complete an existing one): every empty secret
# gets a fresh random value (48 hex digits, URL-safe as the DSNs need). Values already set are
# kept, so running it again changes nothing. Usage: sh infra/new-env.sh [ENV_FILE]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
env_file=${1:-$here/.env}
secrets="CLICKHOUSE_ROOT_PASSWORD CLICKHOUSE_ADMIN_PASSWORD CLICKHOUSE_WRITER_PASSWORD CLICKHOUSE_READER_PASSWORD GRAFANA_ADMIN_PASSWORD CLICKHOUSE_CLUSTER_SECRET"

random_hex() {
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n'
}

umask 077
if [ ! -e "$env_file" ]; then
    cp "$here/.env.example" "$env_file"
    echo "created $env_file from .env.example"
fi
tmp="$env_file.tmp.$$"
trap 'rm -f "$tmp"' EXIT
: > "$tmp"
filled=""
while IFS= read -r line || [ -n "$line" ]; do
    name=${line%%=*}
    value=${line#*=}
    is_secret=no
    for s in $secrets; do
        [ "$name" = "$s" ] && is_secret=yes
    done
    if [ "$is_secret" = yes ] && [ "$name" != "$line" ] && [ -z "$value" ]; then
        printf '%s=%s\n' "$name" "$(random_hex)" >> "$tmp"
        filled="$filled $name"
    else
        printf '%s\n' "$line" >> "$tmp"
    fi
done < "$env_file"
mv "$tmp" "$env_file"
chmod 600 "$env_file"
if [ -n "$filled" ]; then
    echo "generated:$filled"
else
    echo "every secret in $env_file was already set"
fi
