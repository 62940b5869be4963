#!/usr/bin/env bash
# Installs the npm validators of the state machine definitions (statemachines'
# tests run them) into tools/npm/node_modules with `npm ci`, once: the install
# is skipped when node_modules was installed from the same package.json and
# package-lock.json by the same node (a stamp file in node_modules holds their
# hash). `npm ci` itself always deletes node_modules and installs again.
#
# Usage: tools/npm/install.sh
# Output: tools/npm/node_modules/.bin/{statelint,asl-validator}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "npm validators: $tool is missing: apt-get install nodejs npm" >&2; exit 1; }
done

stamp="node_modules/.cpwarden-stamp"
stamp_value="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1) node $(node --version)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$stamp_value" && -x node_modules/.bin/statelint && -x node_modules/.bin/asl-validator ]]; then
  echo "npm validators: up to date in $here/node_modules"
  exit 0
fi

echo "npm validators: installing package-lock.json's packages into $here/node_modules (npm ci)"
start=$SECONDS
# The lockfile pins every package with its integrity hash, so packages
# already in npm's cache are taken from there.
npm ci --no-audit --no-fund --prefer-offline 2>&1 | sed 's/^/  | /'
printf '%s' "$stamp_value" >"$stamp"
echo "npm validators: installed in $((SECONDS - start))s"
