#!/bin/sh
# azd prepackage hook: the package must carry the rotator configuration (ROTATOR_CONFIG=./rotator.yaml),
# and that configuration must point at the Key Vault this environment provisioned.
# azd runs hooks from the project root with the environment's values (azd env get-values) exported.
set -eu

config="${ROTATOR_CONFIG_FILE:-rotator.yaml}"

if [ ! -f "$config" ]; then
  cat >&2 <<MSG
prepackage: $config not found at the repository root.
The Function App reads its configuration from the deployed package (ROTATOR_CONFIG=./rotator.yaml).
  1. azd provision                     # creates the Key Vault, identity, storage, alerts
  2. azd env get-values                # AZURE_KEY_VAULT_URL, SERVICE_IDENTITY_CLIENT_ID, ...
  3. write rotator.yaml (README "Configuration reference"; keyVault.url = AZURE_KEY_VAULT_URL)
  4. azd deploy
MSG
  exit 1
fi

# Compare hosts only: the vault URI output ends with a slash, the config may not.
if [ -n "${AZURE_KEY_VAULT_URL:-}" ]; then
  vault_host=$(printf '%s' "$AZURE_KEY_VAULT_URL" | sed -e 's#^https://##' -e 's#/.*$##')
  if ! grep -q "$vault_host" "$config"; then
    echo "prepackage: $config does not mention this environment's Key Vault ($vault_host); set keyVault.url to $AZURE_KEY_VAULT_URL" >&2
    exit 1
  fi
fi

echo "prepackage: $config will be deployed as ROTATOR_CONFIG"
