#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine (this is what CI runs).
#   bash scripts/ci/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/../.."

python3 -m pip install -q -r requirements-dev.txt

# Browser tests drive Debian's chromium (Playwright cannot download its own browsers here).
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; browser tests will be skipped" >&2
  else
    echo "warning: chromium not found; browser tests will be skipped" >&2
  fi
fi

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python3 -m pytest "$@"
