#!/usr/bin/env bash
# deploylab-kubectl: install kubectl from the Kubernetes project's apt repository for one pinned minor version.
#
#   deploylab-kubectl MINOR FINGERPRINT      e.g. deploylab-kubectl v1.34 DE15B14486CD377B9E876E1A234654DA9A296436
#
# Debian 12's own kubernetes-client is 1.20, far outside the skew kubectl supports against a GKE cluster (one
# minor either way). The repository's signing key is fetched over HTTPS from the repository itself and accepted
# only when its fingerprint is the pinned one (the key is public; the pin is what makes it trusted). The repository
# gets its own keyring (signed-by) and its own sources file, so it can never sign anything else, and a failure
# here leaves the image's packages alone; deploylab-ready then fails the boot visibly.
# External binaries are overridable: CURL, GPG, APT_GET.
set -o errexit -o nounset -o pipefail

CURL="${CURL:-curl}"
GPG="${GPG:-gpg}"
APT_GET="${APT_GET:-apt-get}"
KEYRING="${KUBECTL_KEYRING:-/etc/apt/keyrings/kubernetes-apt-keyring.gpg}"
SOURCES="${KUBECTL_SOURCES:-/etc/apt/sources.list.d/kubernetes.list}"
KEY=""

die() { printf 'deploylab-kubectl: ERROR: %s\n' "$*" >&2; exit 1; }

cleanup() {
  if [[ -n "$KEY" ]]; then rm -f "$KEY"; fi
}

main() {
  [[ $# -eq 2 ]] || die "usage: deploylab-kubectl MINOR FINGERPRINT"
  local minor="$1" fingerprint="$2" repo got
  [[ "$minor" =~ ^v1\.[0-9]+$ ]] || die "MINOR $minor: want e.g. v1.34"
  repo="https://pkgs.k8s.io/core:/stable:/$minor/deb/"
  trap cleanup EXIT
  KEY="$(mktemp)"
  "$CURL" -fsSL --retry 5 --proto '=https' -o "$KEY" "${repo}Release.key"
  got="$("$GPG" --show-keys --with-colons "$KEY" | awk -F: '$1 == "fpr" {print $10; exit}')"
  [[ "$got" == "$fingerprint" ]] || die "${repo}Release.key has fingerprint ${got:-none}, pinned $fingerprint: refusing it"
  install -d -m 0755 "$(dirname "$KEYRING")"
  "$GPG" --batch --yes --dearmor -o "$KEYRING" "$KEY"
  chmod 0644 "$KEYRING"
  printf 'deb [signed-by=%s] %s /\n' "$KEYRING" "$repo" >"$SOURCES"
  "$APT_GET" update -o Dir::Etc::sourcelist="$SOURCES" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
  DEBIAN_FRONTEND=noninteractive "$APT_GET" install -y kubectl
}

main "$@"
