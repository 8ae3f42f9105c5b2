#!/usr/bin/env bash
# ci-stacks.sh: print, as a JSON array for a workflow matrix, the stacks that both have a stack file
# (stacks/Pulumi.NAME.yaml) and exist in the current Pulumi backend, minus the ones named in EXCLUDE.
#
#   EXCLUDE="prod" scripts/ci-stacks.sh        (PULUMI_BACKEND_URL selects the backend, as for pulumi itself)
#
# A stack file alone is not a stack: the training file is a template and reaped classes leave theirs behind, and a
# preview of a stack that does not exist fails. A backend stack without a file is not this repository's to preview.
# External binaries are overridable: PULUMI, JQ.
set -o errexit -o nounset -o pipefail

PULUMI="${PULUMI:-pulumi}"
JQ="${JQ:-jq}"
EXCLUDE="${EXCLUDE:-}"

main() {
  local repo_root existing name file
  repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "${repo_root}"
  # Names may come back qualified (organization/deploylab/dev): the last segment is the stack.
  existing="$("${PULUMI}" stack ls --json --non-interactive | "${JQ}" -r '.[].name | split("/") | last')"
  local -a names=()
  for file in stacks/Pulumi.*.yaml; do
    [[ -e "${file}" ]] || continue
    name="${file#stacks/Pulumi.}"
    name="${name%.yaml}"
    if ! grep -qxF -- "${name}" <<<"${existing}"; then
      printf 'ci-stacks: %s has a stack file but no stack in the backend: skipped\n' "${name}" >&2
      continue
    fi
    if [[ " ${EXCLUDE} " == *" ${name} "* ]]; then
      printf 'ci-stacks: %s is excluded (EXCLUDE)\n' "${name}" >&2
      continue
    fi
    names+=("${name}")
  done
  printf '%s\n' "${names[@]+"${names[@]}"}" | "${JQ}" -R . | "${JQ}" -cs 'map(select(. != ""))'
}

main "$@"
