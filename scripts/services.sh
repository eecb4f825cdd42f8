#!/usr/bin/env bash
# What the test suite needs from Debian packages: PostgreSQL (the second pass), Redis (cluster
# tests), haproxy (the multi-node test's load balancer), Chromium and ChromeDriver (UI tests).
#
#   scripts/services.sh url   prints CHARGEBAY_TEST_POSTGRES_URL if a server is (made) available
#
# In CI (CHARGEBAY_CI=1, set by .ci/run) the packages are installed and started as needed, and a
# failure is an error. Elsewhere nothing is installed: an already running server on 127.0.0.1:5432
# with the chargebay/chargebay login is used if there is one, else the pass is skipped (make test
# says so).
set -euo pipefail

PG_URL="postgresql+asyncpg://chargebay:chargebay@127.0.0.1:5432/postgres"

log() { echo "services: $*" >&2; }

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

pg_login_works() {
  PGPASSWORD=chargebay psql -h 127.0.0.1 -U chargebay -d postgres -tAc 'select 1' >/dev/null 2>&1
}

install_and_start() {
  local missing=()
  command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)  # its promtool checks deploy/'s queries
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (Debian packages)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  if ! pg_lsclusters -h | grep -q online; then
    pg_lsclusters -h | grep -q "^$version main" || pg_createcluster "$version" main >/dev/null
    pg_ctlcluster "$version" main start
  fi
  for _ in $(seq 50); do pg_ready && break; sleep 0.2; done
  su postgres -c "psql -qtAc \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'chargebay')
    THEN CREATE ROLE chargebay LOGIN SUPERUSER PASSWORD 'chargebay'; END IF; END \\\$\\\$\"" >/dev/null
  if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  fi
}

case "${1:-url}" in
  url)
    if [ "${CHARGEBAY_CI:-}" = "1" ]; then
      # Only the URL may reach stdout (make reads it): server chatter such as
      # "Removed stale pid file." goes to stderr.
      install_and_start >&2
      pg_login_works || { log "PostgreSQL did not come up"; exit 1; }
      echo "$PG_URL"
    elif pg_ready && pg_login_works; then
      echo "$PG_URL"
    fi
    ;;
  *) log "usage: $0 url"; exit 2 ;;
esac
