#!/usr/bin/env bash
# Installs and starts what some tests need: a PostgreSQL server and Chromium (Debian's packages).
# Any failure here only makes the tests that need the service skip, with their stated reason.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
if ! command -v pg_ctlcluster >/dev/null || ! command -v chromium >/dev/null; then
  as_root apt-get update -qq && as_root apt-get install -y -qq postgresql chromium chromium-driver >/dev/null
fi
if command -v pg_ctlcluster >/dev/null; then
  ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
  as_root pg_ctlcluster "$ver" main start 2>/dev/null || true
  # The test database and role the PostgreSQL tests use (VADLENS_TEST_POSTGRES_URL).
  as_postgres psql -qtc "SELECT 1 FROM pg_roles WHERE rolname='vadlens'" | grep -q 1 \
    || as_postgres psql -qc "CREATE ROLE vadlens LOGIN PASSWORD 'vadlens'"
  as_postgres psql -qtc "SELECT 1 FROM pg_database WHERE datname='vadlens_test'" | grep -q 1 \
    || as_postgres psql -qc "CREATE DATABASE vadlens_test OWNER vadlens"
fi
