#!/usr/bin/env bash
# deploylab-ready: the last step of the first boot. It says the host is ready only when it is: the files unpacked
# are the pinned ones, every apt package the user data names is installed, every command named is on PATH and
# nginx and Docker run. cloud-init installs `packages:` in ONE apt-get install, so one name missing from the
# image's release (awscli on Ubuntu 24.04) installs nothing at all; cloud-init would still finish and print its
# final message. This script fails instead, which marks the boot failed in `cloud-init status`.
#
#   deploylab-ready FILES_SHA256 [--command NAME]... PACKAGE...
#
# External binaries are overridable: DPKG_QUERY, SYSTEMCTL.
set -o errexit -o nounset -o pipefail

DPKG_QUERY="${DPKG_QUERY:-dpkg-query}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"
STAMP_FILE="${DEPLOYLAB_BOOTSTRAP_STAMP:-/var/lib/deploylab/bootstrap.sha256}"

main() {
  [[ $# -ge 1 ]] || { echo "usage: deploylab-ready FILES_SHA256 [--command NAME]... PACKAGE..." >&2; exit 2; }
  local want="$1" problems=() status unit
  shift
  if [[ "$(cat "$STAMP_FILE" 2>/dev/null || true)" != "$want" ]]; then
    problems+=("the host's files (sha256 $want) were not unpacked: see deploylab-bootstrap above")
  fi
  while [[ $# -gt 0 ]]; do
    if [[ "$1" == --command ]]; then
      command -v "${2:?--command needs a name}" >/dev/null || problems+=("command $2 not found")
      shift 2
      continue
    fi
    # shellcheck disable=SC2016 # ${Status} is dpkg-query's format field, not a shell expansion
    status="$("$DPKG_QUERY" -W -f='${Status}' "$1" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || problems+=("package $1 not installed (${status:-unknown to dpkg})")
    shift
  done
  for unit in nginx.service docker.service; do
    "$SYSTEMCTL" is-active --quiet "$unit" || problems+=("$unit is not running")
  done
  if [[ ${#problems[@]} -gt 0 ]]; then
    printf 'deploylab: host NOT ready: %s\n' "${problems[@]}" >&2
    exit 1
  fi
  echo "deploylab: every package installed, files verified, nginx and docker running"
}

main "$@"
