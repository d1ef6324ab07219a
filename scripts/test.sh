#!/usr/bin/env bash
# `pnpm test`: lint, type-check, then every test file (tap), against the real PostgreSQL
# and Redis on 127.0.0.1. Ends with one plain line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

pnpm exec biome check . || { echo "0 passed, 1 failed (lint)"; exit 1; }
pnpm exec tsc -p tsconfig.json --noEmit || { echo "0 passed, 1 failed (type-check)"; exit 1; }
# The back-office page's front end (browser code: DOM types, Preact JSX) is its own program.
pnpm exec tsc -p services/api/backoffice/tsconfig.json --noEmit || { echo "0 passed, 1 failed (type-check)"; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
pnpm exec tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
node -e '
  const text = require("fs").readFileSync(process.argv[1], "utf8");
  const lines = text.split("\n").filter((l) => /^# \{ total: \d+/.test(l));
  const last = lines.at(-1) ?? "";
  const n = (k) => Number((new RegExp(k + ": (\\d+)").exec(last) ?? [0, 0])[1]);
  console.log(`${n("pass")} passed, ${n("fail")} failed, ${n("skip") + n("todo")} skipped`);
' "$log"
exit "$status"
