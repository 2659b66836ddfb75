#!/usr/bin/env bash
# Installs and starts what some tests need: a PostgreSQL server and Chromium (Debian's packages).
# Any failure here only makes the tests that need the service skip, with their stated reason.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v pg_ctlcluster >/dev/null || ! command -v chromium >/dev/null; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql chromium chromium-driver >/dev/null
fi
if command -v pg_ctlcluster >/dev/null; then
  ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
  $SUDO pg_ctlcluster "$ver" main start 2>/dev/null || true
  # The test database and role the PostgreSQL tests use (VADLENS_TEST_POSTGRES_URL).
  $SUDO -u postgres psql -qtc "SELECT 1 FROM pg_roles WHERE rolname='vadlens'" | grep -q 1 \
    || $SUDO -u postgres psql -qc "CREATE ROLE vadlens LOGIN PASSWORD 'vadlens'"
  $SUDO -u postgres psql -qtc "SELECT 1 FROM pg_database WHERE datname='vadlens_test'" | grep -q 1 \
    || $SUDO -u postgres psql -qc "CREATE DATABASE vadlens_test OWNER vadlens"
fi
