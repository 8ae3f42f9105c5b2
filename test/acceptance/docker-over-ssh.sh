#!/usr/bin/env bash
# docker-over-ssh.sh: lets the boot test's checker (test/boot/check) assert a real cloud host. The checker drives
# its boot container with two docker commands; this script, passed as its -docker, runs them on the host named
# by -container (USER@ADDRESS) over SSH instead:
#
#   exec [-i] USER@ADDRESS CMD ARGS...   →  ssh USER@ADDRESS sudo CMD ARGS...  (stdin passed on with -i)
#   restart -t N USER@ADDRESS            →  ssh USER@ADDRESS sudo systemctl reboot
#
# ssh joins its arguments into one string for the remote shell, so each argument is quoted here to arrive whole.
# SSH (default ssh) and SSH_OPTS (words, e.g. "-i key -o UserKnownHostsFile=kh") are overridable.
set -o errexit -o nounset -o pipefail

SSH="${SSH:-ssh}"
SSH_OPTS="${SSH_OPTS:-}"

die() { printf 'docker-over-ssh: %s\n' "$*" >&2; exit 2; }

main() {
  local -a opts remote=()
  # shellcheck disable=SC2206 # SSH_OPTS is a list of words by design
  opts=(-o BatchMode=yes -o ConnectTimeout=15 ${SSH_OPTS})
  local verb="${1:-}"
  shift || true
  case "${verb}" in
    exec)
      local stdin=(-n)
      if [[ "${1:-}" == -i ]]; then stdin=(); shift; fi
      [[ $# -ge 2 ]] || die "usage: exec [-i] USER@ADDRESS CMD [ARGS...]"
      local target="$1"
      shift
      local arg
      for arg in sudo "$@"; do remote+=("$(printf '%q' "${arg}")"); done
      exec "${SSH}" "${stdin[@]+"${stdin[@]}"}" "${opts[@]}" "${target}" "${remote[*]}"
      ;;
    restart)
      [[ "${1:-}" == -t && $# -eq 3 ]] || die "usage: restart -t SECONDS USER@ADDRESS"
      # The connection drops as the host goes down: 255 from ssh is the expected end.
      "${SSH}" -n "${opts[@]}" "$3" sudo systemctl reboot || [[ $? -eq 255 ]]
      sleep 10
      ;;
    *) die "unsupported docker command \"${verb}\": only exec and restart are translated" ;;
  esac
}

main "$@"
