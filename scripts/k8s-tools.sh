#!/usr/bin/env bash
# Builds the pieces of a real Kubernetes control plane that the class tests (components/k8sclass) run on
# 127.0.0.1, from the Go module proxy at pinned versions:
#   kube-apiserver, kube-controller-manager, kubectl   k8s.io/kubernetes, its staging modules replaced by
#                                                      their published versions (it requires them at v0.0.0)
#   pulumi-resource-kubernetes                         the pulumi-kubernetes provider (the only served version)
# etcd is Debian's etcd-server (scripts/install-deps.sh): the API server talks to it over the v3 API.
#
# The binaries are cached OUTSIDE the work tree, in ${DEPLOYLAB_K8S_CACHE:-~/.cache/deploylab/k8s}/<name>-<version>/,
# each directory with a stamp naming the pins it was built from; a warm run rebuilds nothing. Cold, the
# Kubernetes build takes about 6-20 minutes and 2.5 GB, the provider's about 14 minutes and 5 GB (docs/gke.md).
#
# Usage: scripts/k8s-tools.sh          build what is missing or stale (run by `make k8s-tools`)
#        scripts/k8s-tools.sh paths    print the directories holding the binaries, one a line; fail (building
#                                      nothing) when a build is missing or stale. The Go tests call this.
set -o errexit -o nounset -o pipefail

readonly KUBE_VERSION=v1.35.4
# The staging modules (k8s.io/api, client-go, apiserver, ...) are published as v0.<minor>.<patch>.
readonly STAGING_VERSION=v0.35.4
# The only version of the provider module the proxy serves (a pseudo-version of the repository's master).
readonly PROVIDER_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4
readonly PROVIDER_PSEUDO=v4.0.0-20260115033456-f47bc2d6f199
# The release that commit became (sdk/v4.25.0 was tagged the next day); it is the version the provider reports
# and must equal the pulumi-kubernetes SDK version in go.mod, which the engine asks the plugin for.
readonly PROVIDER_VERSION=4.25.0

readonly CACHE="${DEPLOYLAB_K8S_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/deploylab/k8s}"
readonly GO="${GO:-go}"
readonly KUBE_DIR="${CACHE}/kubernetes-${KUBE_VERSION}"
readonly PROVIDER_DIR="${CACHE}/pulumi-kubernetes-${PROVIDER_VERSION}"
readonly KUBE_STAMP="kubernetes ${KUBE_VERSION} staging ${STAGING_VERSION}"
readonly PROVIDER_STAMP="${PROVIDER_MODULE}@${PROVIDER_PSEUDO} as ${PROVIDER_VERSION}"
readonly KUBE_BINARIES=(kube-apiserver kube-controller-manager kubectl)

die() {
  echo "k8s-tools.sh: $*" >&2
  exit 1
}

# fresh DIR STAMP BINARY... succeeds when every BINARY is in DIR and DIR's stamp equals STAMP.
fresh() {
  local dir="$1" stamp="$2" bin
  shift 2
  [[ -f "${dir}/.stamp" && "$(<"${dir}/.stamp")" == "${stamp}" ]] || return 1
  for bin in "$@"; do
    [[ -x "${dir}/${bin}" ]] || return 1
  done
}

# scratch DIR MODULE@VERSION makes DIR an empty module that requires MODULE@VERSION, and prints the
# module's extracted source directory.
scratch() {
  local dir="$1" target="$2"
  rm -rf -- "${dir:?}"
  mkdir -p "${dir}"
  (cd "${dir}" && "${GO}" mod init deploylab.local/k8s-tools >/dev/null 2>&1 && "${GO}" mod edit -require="${target}") \
    || die "cannot create the scratch module in ${dir}"
  (cd "${dir}" && GOFLAGS=-mod=mod "${GO}" mod download -json "${target}") \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

build_kubernetes() {
  if fresh "${KUBE_DIR}" "${KUBE_STAMP}" "${KUBE_BINARIES[@]}"; then
    echo "kubernetes ${KUBE_VERSION}: up to date (${KUBE_DIR})"
    return 0
  fi
  echo "kubernetes ${KUBE_VERSION}: building ${KUBE_BINARIES[*]} (cold: many minutes, about 2.5 GB)"
  local src="${CACHE}/src/kubernetes-${KUBE_VERSION}" moddir
  moddir="$(scratch "${src}" "k8s.io/kubernetes@${KUBE_VERSION}")"
  [[ -f "${moddir}/go.mod" ]] || die "k8s.io/kubernetes@${KUBE_VERSION} was not downloaded"
  # k8s.io/kubernetes requires each staging module at v0.0.0 and replaces it with ./staging/...; replaces
  # apply only in the main module, so this one points each at its published release.
  local staging=() m
  mapfile -t staging < <(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "${moddir}/go.mod" | sort -u)
  ((${#staging[@]} > 0)) || die "found no staging modules in ${moddir}/go.mod"
  for m in "${staging[@]}"; do
    (cd "${src}" && "${GO}" mod edit -replace="${m}=${m}@${STAGING_VERSION}")
  done
  # The commands are main packages: a build-tagged file keeps them (and what they need) in go.mod.
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for m in "${KUBE_BINARIES[@]}"; do
      printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "${m}"
    done
    printf ')\n'
  } >"${src}/tools.go"
  (cd "${src}" && "${GO}" mod tidy) || die "go mod tidy failed in ${src}"
  # Without the version stamped in, the server reports v0.0.0-master and kubectl warns of a version skew.
  local ldflags="" pkg minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean"
  done
  mkdir -p "${KUBE_DIR}"
  rm -f -- "${KUBE_DIR}/.stamp"
  local bin
  for bin in "${KUBE_BINARIES[@]}"; do
    # To a temporary name first: an interrupted build never leaves a half-written binary.
    (cd "${src}" && "${GO}" build -trimpath -ldflags "${ldflags}" -o "${KUBE_DIR}/.${bin}.tmp" "k8s.io/kubernetes/cmd/${bin}") \
      || die "building ${bin} failed"
    mv -f -- "${KUBE_DIR}/.${bin}.tmp" "${KUBE_DIR}/${bin}"
  done
  printf '%s\n' "${KUBE_STAMP}" >"${KUBE_DIR}/.stamp"
}

build_provider() {
  if fresh "${PROVIDER_DIR}" "${PROVIDER_STAMP}" pulumi-resource-kubernetes; then
    echo "pulumi-resource-kubernetes ${PROVIDER_VERSION}: up to date (${PROVIDER_DIR})"
    return 0
  fi
  echo "pulumi-resource-kubernetes ${PROVIDER_VERSION}: building (cold: about 14 minutes, 5 GB)"
  local src="${CACHE}/src/pulumi-kubernetes-${PROVIDER_VERSION}" moddir
  moddir="$(scratch "${src}" "${PROVIDER_MODULE}@${PROVIDER_PSEUDO}")"
  # The module zip lacks the generated schema-embed.json files that main.go embeds: build the command in the
  # scratch module and run its own generate step, as the provider's Makefile does.
  cp "${moddir}"/cmd/pulumi-resource-kubernetes/*.go "${moddir}"/cmd/pulumi-resource-kubernetes/*.json "${src}/"
  chmod u+w "${src}"/*
  (cd "${src}" && "${GO}" mod tidy) || die "go mod tidy failed in ${src}"
  (cd "${src}" && VERSION="${PROVIDER_VERSION}" "${GO}" run generate.go) || die "the provider's generate step failed"
  mkdir -p "${PROVIDER_DIR}"
  rm -f -- "${PROVIDER_DIR}/.stamp"
  (cd "${src}" && "${GO}" build -trimpath \
    -ldflags "-X ${PROVIDER_MODULE}/pkg/version.Version=${PROVIDER_VERSION}" \
    -o "${PROVIDER_DIR}/.pulumi-resource-kubernetes.tmp" .) || die "building pulumi-resource-kubernetes failed"
  mv -f -- "${PROVIDER_DIR}/.pulumi-resource-kubernetes.tmp" "${PROVIDER_DIR}/pulumi-resource-kubernetes"
  printf '%s\n' "${PROVIDER_STAMP}" >"${PROVIDER_DIR}/.stamp"
}

# paths prints the binary directories, or fails naming what to run.
paths() {
  fresh "${KUBE_DIR}" "${KUBE_STAMP}" "${KUBE_BINARIES[@]}" \
    || die "kubernetes ${KUBE_VERSION} is not built in ${KUBE_DIR}: run scripts/k8s-tools.sh (make k8s-tools)"
  fresh "${PROVIDER_DIR}" "${PROVIDER_STAMP}" pulumi-resource-kubernetes \
    || die "pulumi-resource-kubernetes ${PROVIDER_VERSION} is not built in ${PROVIDER_DIR}: run scripts/k8s-tools.sh (make k8s-tools)"
  printf '%s\n' "${KUBE_DIR}" "${PROVIDER_DIR}"
}

main() {
  command -v "${GO}" >/dev/null || die "go not found (set GO=/path/to/go)"
  case "${1:-build}" in
    paths) paths ;;
    build)
      # One at a time: the provider's link alone peaks at about 5 GB.
      build_kubernetes
      build_provider
      # Captured first: `kubectl … | grep -q` fails under pipefail when grep exits before kubectl has written all.
      local reported
      reported="$("${KUBE_DIR}/kubectl" version --client)" || die "${KUBE_DIR}/kubectl version failed"
      [[ "${reported}" == *"${KUBE_VERSION}"* ]] || die "${KUBE_DIR}/kubectl does not report ${KUBE_VERSION}: ${reported}"
      ;;
    *) die "unknown command '$1' (want: build or paths)" ;;
  esac
}

main "$@"
