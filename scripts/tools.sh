#!/usr/bin/env bash
# Builds the pinned command-line tools the tests and CI need into .tools/bin:
#   pulumi      the Pulumi CLI (engine for the reaper's real-engine tests)
#   actionlint  the GitHub Actions workflow linter
# Both come from the Go module proxy at the versions pinned in tools/go.mod
# (pulumi) and tools/actionlint/go.mod (actionlint: a module of its own, see its
# tools.go), so no release download is needed. A stamp file per tool records the version it
# was built at; a tool is rebuilt only when the pin (or the stamp) changes.
#
# Usage: scripts/tools.sh            build what is missing or stale
#        GO=/path/to/go TOOLS_BIN=/elsewhere scripts/tools.sh
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly PULUMI_MOD="${ROOT}/tools"
readonly ACTIONLINT_MOD="${ROOT}/tools/actionlint"
readonly BIN="${TOOLS_BIN:-${ROOT}/.tools/bin}"
readonly GO="${GO:-go}"

tmp=""
cleanup() {
  if [[ -n "${tmp}" ]]; then
    rm -f -- "${tmp:?}"
  fi
}
trap cleanup EXIT

die() {
  echo "tools.sh: $*" >&2
  exit 1
}

# pinned_version DIR MODULE prints the version of MODULE required by DIR/go.mod.
pinned_version() {
  local version
  version="$(cd "$1" && "${GO}" list -m -f '{{.Version}}' "$2")" \
    || die "cannot read the pinned version of $2 from $1/go.mod"
  [[ -n "${version}" ]] || die "$2 is not required by $1/go.mod"
  printf '%s\n' "${version}"
}

# build NAME VERSION DIR PACKAGE [go build flags...] builds PACKAGE in the
# module at DIR into $BIN/NAME unless the stamp says it is built at VERSION.
build() {
  local name="$1" version="$2" dir="$3" pkg="$4"
  shift 4
  local out="${BIN}/${name}" stamp="${BIN}/.${name}.version"
  if [[ -x "${out}" && -f "${stamp}" && "$(<"${stamp}")" == "${version}" ]]; then
    echo "${name} ${version}: up to date (${out})"
    return 0
  fi
  echo "${name} ${version}: building ${pkg} (a cold build of pulumi takes many minutes)"
  # Build to a temporary name and move it into place, so an interrupted build
  # never leaves a half-written binary that a stale stamp would vouch for.
  tmp="$(mktemp "${BIN}/.${name}.XXXXXX")"
  (cd "${dir}" && "${GO}" build -trimpath "$@" -o "${tmp}" "${pkg}") \
    || die "building ${name} ${version} failed"
  mv -f -- "${tmp}" "${out}"
  tmp=""
  printf '%s\n' "${version}" >"${stamp}"
}

# check NAME WANT ARGS... runs the built tool and fails unless its output
# contains WANT: proves the version stamp made it into the binary.
check() {
  local name="$1" want="$2"
  shift 2
  local got
  got="$("${BIN}/${name}" "$@" 2>&1)" || die "${BIN}/${name} $* failed: ${got}"
  [[ "${got}" == *"${want}"* ]] \
    || die "${BIN}/${name} $* printed '${got}', want it to contain '${want}'"
}

main() {
  command -v "${GO}" >/dev/null || die "go not found (set GO=/path/to/go)"
  mkdir -p "${BIN}"

  local pulumi_version actionlint_version
  pulumi_version="$(pinned_version "${PULUMI_MOD}" github.com/pulumi/pulumi/pkg/v3)"
  actionlint_version="$(pinned_version "${ACTIONLINT_MOD}" github.com/rhysd/actionlint)"

  # The CLI reports the version baked in by -ldflags; without it `pulumi
  # version` says v0.0.0 or similar and plugin resolution misbehaves.
  build pulumi "${pulumi_version}" "${PULUMI_MOD}" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${pulumi_version}"
  check pulumi "${pulumi_version}" version

  build actionlint "${actionlint_version}" "${ACTIONLINT_MOD}" github.com/rhysd/actionlint/cmd/actionlint \
    -ldflags "-X github.com/rhysd/actionlint.version=${actionlint_version}"
  check actionlint "${actionlint_version}" -version
}

main "$@"
