#!/usr/bin/env bash
# Installs the Debian packages the tests run for real (nginx, cloud-init, sshd, Docker's compose, ...) and
# makes sure the Docker engine answers. Idempotent: a package already there is not fetched again.
set -o errexit -o nounset -o pipefail

# etcd-server is Debian's (the class tests' API server stores in it); kubectl, google-cloud-cli and
# google-cloud-cli-gke-gcloud-auth-plugin come from Google's apt repository (packages.cloud.google.com), which a
# machine must have configured: the GKE kubeconfig test runs them for real.
PACKAGES=(
	nginx cloud-init openssh-server openssh-client sudo whois python3 shellcheck
	docker-compose lsof iproute2 nftables curl wrk debootstrap groovy util-linux
	jq git bsdutils gpg awscli
	etcd-server kubectl google-cloud-cli google-cloud-cli-gke-gcloud-auth-plugin
)

main() {
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		sudo=(sudo -n)
	fi
	local missing=()
	local pkg
	for pkg in "${PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$pkg")
		fi
	done
	if ((${#missing[@]} > 0)); then
		echo "install-deps: installing ${missing[*]}"
		"${sudo[@]}" apt-get update -qq
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	ensure_docker "${sudo[@]}"
}

# ensure_docker starts the engine when it is not running (a fresh CI machine normally has it running).
ensure_docker() {
	if docker info >/dev/null 2>&1; then
		return 0
	fi
	echo "install-deps: the Docker engine does not answer; starting it" >&2
	"$@" service docker start >/dev/null 2>&1 || ("$@" dockerd >/tmp/dockerd.log 2>&1 &)
	local _
	for _ in $(seq 1 30); do
		docker info >/dev/null 2>&1 && return 0
		sleep 1
	done
	echo "install-deps: the Docker engine did not start (see /tmp/dockerd.log)" >&2
	return 1
}

main "$@"
