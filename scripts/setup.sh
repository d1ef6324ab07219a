#!/usr/bin/env bash
# Makes a fresh machine ready: the pinned pnpm (through corepack), the locked dependencies,
# and with --services, PostgreSQL and Redis on 127.0.0.1 for the test suite.
# Safe to run again: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
want=$(node -p "require('./package.json').packageManager.split('@')[1]")

pnpm_ok() { [ "$(env -u COREPACK_INTEGRITY_KEYS pnpm --version 2>/dev/null | tail -n 1)" = "$want" ]; }

if ! pnpm_ok; then
  say "installing pnpm $want through corepack"
  # corepack's signature check fails against this registry for pnpm 12's binary package;
  # the version is still pinned by packageManager.
  corepack enable pnpm >/dev/null 2>&1 || true
  COREPACK_INTEGRITY_KEYS=0 corepack prepare "pnpm@$want" --activate >/dev/null 2>&1 || true
  if ! pnpm_ok; then
    say "corepack's pnpm does not run without COREPACK_INTEGRITY_KEYS=0; installing pnpm $want with npm"
    corepack disable pnpm >/dev/null 2>&1 || true
    npm install --global --force "pnpm@$want" >/dev/null
    hash -r
  fi
  pnpm_ok || { say "could not install pnpm $want"; exit 1; }
fi

say "installing dependencies from the lockfile"
pnpm install --frozen-lockfile --reporter=silent

if [ "${1:-}" != "--services" ]; then exit 0; fi

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
pg_cluster() { pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main "$1"; }
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  say "installing PostgreSQL"
  apt_install postgresql
  # Tests connect as postgres over loopback without a password, as on the dev machines.
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  done
  # The package may have started the cluster before that edit: make it read the file again.
  if pg_up; then pg_cluster reload || true; fi
fi
if ! pg_up; then
  say "starting PostgreSQL"
  pg_cluster start || true
  for _ in $(seq 1 60); do pg_up && break; sleep 0.5; done
  pg_up || { say "PostgreSQL did not start"; exit 1; }
fi

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    say "installing Redis"
    apt_install redis-server
  fi
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 60); do redis_up && break; sleep 0.5; done
  redis_up || { say "Redis did not start"; exit 1; }
fi
say "PostgreSQL and Redis are up on 127.0.0.1"

# The back-office browser test drives Debian's Chromium headless (never a downloaded browser).
if ! [ -x /usr/bin/chromium ]; then
  say "installing Chromium for the browser test"
  apt_install chromium
fi
