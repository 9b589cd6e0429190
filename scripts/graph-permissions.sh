#!/usr/bin/env bash
# Microsoft Graph permissions of the rotator's managed identity, with the Azure CLI (`az rest`).
# See docs/permissions.md for when each one is needed.
#
#   graph-permissions.sh --identity <client id|object id> --app <appId> [--read|--bootstrap|--revoke-bootstrap] [--dry-run]
#
#   (no mode)           grant nothing; show what the identity has now. Routine rotation needs no Graph
#                       write permission: addKey/removeKey authenticate as the application itself with its
#                       current key ("An application does not need any specific permission to roll its own
#                       keys", https://learn.microsoft.com/graph/api/application-addkey).
#   --read              grant Application.Read.All (application permission) so the identity can read the
#                       app's keyCredentials (observe, leak detection, status).
#   --bootstrap         grant Application.ReadWrite.OwnedBy and make the identity an owner of the app: the
#                       only way to register the first key (or recover when every key expired) is
#                       PATCH /applications/{id} keyCredentials (https://learn.microsoft.com/graph/api/application-update).
#   --revoke-bootstrap  after the first key is active: make sure Application.Read.All is granted, then remove
#                       Application.ReadWrite.OwnedBy and the identity's ownership of the app.
#
# Options: --graph-url <url> for sovereign clouds (default https://graph.microsoft.com; use the cloud's
# Graph endpoint, e.g. https://graph.microsoft.us); --dry-run prints the changes without making them.
#
# Who can run it: granting an application permission of Microsoft Graph needs a directory role that can
# consent to it (Privileged Role Administrator or Global Administrator); adding an owner needs Application
# Administrator / Cloud Application Administrator or an existing owner of the app.
set -euo pipefail

GRAPH_APP_ID="00000003-0000-0000-c000-000000000000" # Microsoft Graph's appId, the same in every tenant
READ_ROLE="Application.Read.All"
BOOTSTRAP_ROLE="Application.ReadWrite.OwnedBy"

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit 2
}

identity="" app="" mode="show" graph="https://graph.microsoft.com" dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --identity) identity="${2:-}"; shift 2 ;;
    --app) app="${2:-}"; shift 2 ;;
    --read) mode="read"; shift ;;
    --bootstrap) mode="bootstrap"; shift ;;
    --revoke-bootstrap) mode="revoke-bootstrap"; shift ;;
    --graph-url) graph="${2%/}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$identity" ] || { echo "--identity is required (SERVICE_IDENTITY_CLIENT_ID from azd env get-values)" >&2; exit 2; }
[ -n "$app" ] || [ "$mode" = "read" ] || { echo "--app is required (the Entra app's appId, entra.clientId in rotator.yaml)" >&2; exit 2; }
command -v az >/dev/null || { echo "the Azure CLI (az) is required" >&2; exit 2; }

api="$graph/v1.0"

# GET (always runs, also in dry-run).
graph_get() { az rest --method get --resource "$graph" --url "$1" "${@:2}"; }

# Mutations: printed in dry-run, executed otherwise.
graph_change() {
  local method="$1" url="$2" body="${3:-}"
  if [ "$dry_run" -eq 1 ]; then
    echo "  [dry-run] $method $url ${body}"
    return 0
  fi
  if [ -n "$body" ]; then
    az rest --method "$method" --resource "$graph" --url "$url" --headers "Content-Type=application/json" --body "$body" --output none
  else
    az rest --method "$method" --resource "$graph" --url "$url" --output none
  fi
}

# The identity's service principal object id, from its client id (appId) or object id.
identity_sp=$(graph_get "$api/servicePrincipals(appId='$identity')" --query id -o tsv 2>/dev/null ||
  graph_get "$api/servicePrincipals/$identity" --query id -o tsv)
graph_sp=$(graph_get "$api/servicePrincipals(appId='$GRAPH_APP_ID')" --query id -o tsv)
role_id() { graph_get "$api/servicePrincipals/$graph_sp" --query "appRoles[?value=='$1'].id | [0]" -o tsv; }
read_role=$(role_id "$READ_ROLE")
bootstrap_role=$(role_id "$BOOTSTRAP_ROLE")

# The id of the identity's assignment of a Graph app role, empty when not granted.
assignment_of() {
  graph_get "$api/servicePrincipals/$identity_sp/appRoleAssignments" \
    --query "value[?resourceId=='$graph_sp' && appRoleId=='$1'].id | [0]" -o tsv
}

grant() {
  local name="$1" role="$2"
  if [ -n "$(assignment_of "$role")" ]; then
    echo "$name: already granted"
    return 0
  fi
  echo "$name: granting"
  graph_change post "$api/servicePrincipals/$identity_sp/appRoleAssignments" \
    "{\"principalId\":\"$identity_sp\",\"resourceId\":\"$graph_sp\",\"appRoleId\":\"$role\"}"
}

revoke() {
  local name="$1" role="$2" assignment
  assignment=$(assignment_of "$role")
  if [ -z "$assignment" ]; then
    echo "$name: not granted"
    return 0
  fi
  echo "$name: removing"
  graph_change delete "$api/servicePrincipals/$identity_sp/appRoleAssignments/$assignment"
}

app_object() { graph_get "$api/applications(appId='$app')" --query id -o tsv; }

is_owner() {
  [ -n "$(graph_get "$api/applications/$1/owners?\$select=id" --query "value[?id=='$identity_sp'].id | [0]" -o tsv)" ]
}

show() {
  echo "identity service principal: $identity_sp"
  echo "$READ_ROLE: $([ -n "$(assignment_of "$read_role")" ] && echo granted || echo 'not granted')"
  echo "$BOOTSTRAP_ROLE: $([ -n "$(assignment_of "$bootstrap_role")" ] && echo granted || echo 'not granted')"
  if [ -n "$app" ]; then
    local obj
    obj=$(app_object)
    echo "owner of app $app (object $obj): $(is_owner "$obj" && echo yes || echo no)"
  fi
}

case "$mode" in
  show)
    show
    echo "Nothing changed. Routine rotation needs no Graph write permission; see docs/permissions.md."
    ;;
  read)
    grant "$READ_ROLE" "$read_role"
    ;;
  bootstrap)
    grant "$BOOTSTRAP_ROLE" "$bootstrap_role"
    obj=$(app_object)
    if is_owner "$obj"; then
      echo "owner of app $app: already"
    else
      echo "owner of app $app: adding"
      graph_change post "$api/applications/$obj/owners/\$ref" "{\"@odata.id\":\"$api/directoryObjects/$identity_sp\"}"
    fi
    echo "Remove this permission once the first key is active: $0 --identity $identity --app $app --revoke-bootstrap"
    ;;
  revoke-bootstrap)
    # Keep the identity able to read keyCredentials before taking OwnedBy (which also allowed reading) away.
    grant "$READ_ROLE" "$read_role"
    revoke "$BOOTSTRAP_ROLE" "$bootstrap_role"
    obj=$(app_object)
    if is_owner "$obj"; then
      echo "owner of app $app: removing"
      graph_change delete "$api/applications/$obj/owners/$identity_sp/\$ref"
    else
      echo "owner of app $app: not an owner"
    fi
    ;;
esac

[ "$dry_run" -eq 1 ] || [ "$mode" = "show" ] || echo "Done. App-role changes reach new tokens only, and managed identity tokens are cached for up to 24 hours: https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/managed-identity-best-practice-recommendations"
