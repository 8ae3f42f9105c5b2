#!/usr/bin/env bash
# deploy.sh: host-side blue/green deploys of one containerised app behind nginx (or an AWS ALB).
#
#   deploy.sh deploy IMAGE   start IMAGE in the idle colour, gate on health, switch, drain, remove the old colour
#   deploy.sh rollback       deploy the image the last successful deploy replaced
#   deploy.sh status         print the live colour, its image, the previous image, the switch and the lock holder
#   deploy.sh restore        point the switch at the live colour again (run at boot: nft rules do not survive one)
#
# Configuration: the env file ${DEPLOYLAB_ENV_FILE:-/etc/deploylab/deploy.env}, KEY=VALUE lines (read, never
# sourced: it is data, not code). Keys and defaults are listed in load_config. External binaries are overridable
# by environment: DOCKER, COMPOSE (shell words, e.g. "docker compose"), CURL, LSOF, SS, FLOCK, AWS_CLI, and NFT
# (shell words, e.g. "sudo -n /usr/sbin/nft"; the env file key NFT wins over the environment).
#
# Switches (SWITCH):
#   nft    nginx proxies to a fixed local port, SWITCH_PORT, and a kernel NAT rule of the app's own nftables
#          table (ip deploylab_APP_NAME) sends it on to the live colour. A switch replaces that rule in one
#          `nft -f` transaction: nginx is not reloaded, so no client keepalive connection is closed; connections
#          already established keep their conntrack mapping to the old colour while it drains, new ones go to the
#          new colour at once.
#   nginx  the upstream include is rewritten and nginx reloaded (nginx 1.22 closes idle keepalive connections on
#          reload: clients that do not retry see errors).
#   alb    the ALB listener is forwarded to the colour's target group.
#
# Exit status: 0 success, 1 deploy failed (the old colour still serves), 2 bad usage or configuration,
# 3 another deploy holds the lock.
set -o errexit -o nounset -o pipefail

readonly ENV_FILE="${DEPLOYLAB_ENV_FILE:-/etc/deploylab/deploy.env}"
DOCKER="${DOCKER:-docker}"
CURL="${CURL:-curl}"
LSOF="${LSOF:-lsof}"
SS="${SS:-ss}"
FLOCK="${FLOCK:-flock}"
AWS_CLI="${AWS_CLI:-aws}"
NFT="${NFT:-nft}"
COMPOSE="${COMPOSE:-}"

# Deploy progress, read by cleanup to undo exactly what this run did.
PHASE=idle
LOCKED=0
NEW_COLOUR=""
OLD_COLOUR=""
UPSTREAM_SAVED=""
HEALTH_LOG=""
SWITCHED=0

# Timestamps with milliseconds, from builtins only: the log shows where a deploy's time goes.
log() {
  local now="$EPOCHREALTIME"
  TZ=UTC printf '%(%H:%M:%S)T.%s deploy.sh: %s\n' "${now%.*}" "${now:(-6):3}" "$*" >&2
}
die() { log "error: $*"; exit 1; }
usage_error() {
  log "error: $*"
  printf 'usage: %s deploy IMAGE | rollback | status | restore\n' "${0##*/}" >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------- configuration

CONFIG_KEYS=" APP_NAME BLUE_PORT GREEN_PORT APP_PORT HEALTH_PATH NGINX_UPSTREAM_FILE NGINX_TEST_CMD"
CONFIG_KEYS+=" NGINX_RELOAD_CMD PUBLIC_URL SWITCH LISTENER_ARN TG_BLUE_ARN TG_GREEN_ARN HEALTH_OK_COUNT HEALTH_TIMEOUT"
CONFIG_KEYS+=" HEALTH_INTERVAL ALB_HEALTH_TIMEOUT DRAIN_SECONDS STOP_TIMEOUT STATE_DIR VERSION_PATH CONTAINER_ENV_FILE"
CONFIG_KEYS+=" SWITCH_PORT NFT "
readonly CONFIG_KEYS

# read_env_file sets the known keys from the env file; unknown keys are an error so a typo is not silently ignored.
read_env_file() {
  [[ -r "$ENV_FILE" ]] || usage_error "env file $ENV_FILE is missing or unreadable (set DEPLOYLAB_ENV_FILE)"
  local line key value n=0
  while IFS= read -r line || [[ -n "$line" ]]; do
    n=$((n + 1))
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$line" =~ ^(export[[:space:]]+)?([A-Z_][A-Z0-9_]*)=(.*)$ ]] ||
      usage_error "$ENV_FILE:$n: want KEY=VALUE, got: $line"
    key="${BASH_REMATCH[2]}"
    value="${BASH_REMATCH[3]}"
    [[ "$CONFIG_KEYS" == *" $key "* ]] || usage_error "$ENV_FILE:$n: unknown key $key (accepted:$CONFIG_KEYS)"
    # One level of matching quotes is stripped, nothing is expanded.
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
    printf -v "$key" '%s' "$value"
  done <"$ENV_FILE"
}

load_config() {
  read_env_file
  APP_NAME="${APP_NAME:-}"
  BLUE_PORT="${BLUE_PORT:-8081}"
  GREEN_PORT="${GREEN_PORT:-8082}"
  APP_PORT="${APP_PORT:-8080}"
  HEALTH_PATH="${HEALTH_PATH:-/actuator/health}"
  NGINX_UPSTREAM_FILE="${NGINX_UPSTREAM_FILE:-/etc/nginx/deploylab/upstream.conf}"
  NGINX_TEST_CMD="${NGINX_TEST_CMD:-nginx -t}"
  NGINX_RELOAD_CMD="${NGINX_RELOAD_CMD:-nginx -s reload}"
  PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1}"
  SWITCH="${SWITCH:-nginx}"
  SWITCH_PORT="${SWITCH_PORT:-8090}"
  LISTENER_ARN="${LISTENER_ARN:-}"
  TG_BLUE_ARN="${TG_BLUE_ARN:-}"
  TG_GREEN_ARN="${TG_GREEN_ARN:-}"
  HEALTH_OK_COUNT="${HEALTH_OK_COUNT:-3}"   # consecutive healthy answers needed
  HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-90}"    # seconds for the whole gate (Spring Boot starts slowly)
  # Seconds between probes (fractions allowed). Short, so readiness is seen within 0.2 s; the timeout above, not
  # the spacing, is what gives a slow app its time.
  HEALTH_INTERVAL="${HEALTH_INTERVAL:-0.2}"
  ALB_HEALTH_TIMEOUT="${ALB_HEALTH_TIMEOUT:-300}"
  # The old colour keeps running this long after the switch (counted from the switch). With nft, new connections
  # move at once, so only connections nginx opened before the switch still reach the old colour: those between
  # nginx's connect and the app's accept need a moment (microseconds on loopback; 0.5 s leaves room for a busy
  # host), and the requests the app has accepted are finished by docker stop's SIGTERM grace period
  # (STOP_TIMEOUT; Spring Boot: server.shutdown=graceful). An app that drops requests on SIGTERM needs
  # DRAIN_SECONDS of at least its longest request. A reload or an ALB listener change takes effect more slowly: 5 s.
  if [[ "$SWITCH" == nft ]]; then DRAIN_SECONDS="${DRAIN_SECONDS:-0.5}"; else DRAIN_SECONDS="${DRAIN_SECONDS:-5}"; fi
  STOP_TIMEOUT="${STOP_TIMEOUT:-30}"        # docker stop grace period for in-flight requests
  VERSION_PATH="${VERSION_PATH-/}"          # final check: nginx must answer this path like the new colour; "" skips
  CONTAINER_ENV_FILE="${CONTAINER_ENV_FILE:-}"
  STATE_DIR="${STATE_DIR:-/var/lib/deploylab/${APP_NAME}}"
  validate_config
}

validate_config() {
  local errs=() key
  [[ "$APP_NAME" =~ ^[a-z0-9][a-z0-9_-]{0,40}$ ]] ||
    errs+=("APP_NAME=\"$APP_NAME\": want lowercase letters, digits, '-' or '_' (a compose project name), 1-41 chars")
  for key in BLUE_PORT GREEN_PORT APP_PORT; do
    [[ "${!key}" =~ ^[0-9]{1,5}$ ]] && ((${!key} >= 1 && ${!key} <= 65535)) ||
      errs+=("$key=\"${!key}\": want a port 1-65535")
  done
  [[ "$BLUE_PORT" != "$GREEN_PORT" ]] || errs+=("BLUE_PORT=GREEN_PORT=\"$BLUE_PORT\": want two different ports")
  [[ "$HEALTH_PATH" =~ ^/[^[:space:]]*$ ]] || errs+=("HEALTH_PATH=\"$HEALTH_PATH\": want a path starting with /")
  [[ -z "$VERSION_PATH" || "$VERSION_PATH" =~ ^/[^[:space:]]*$ ]] ||
    errs+=("VERSION_PATH=\"$VERSION_PATH\": want a path starting with / or empty")
  for key in HEALTH_OK_COUNT HEALTH_TIMEOUT ALB_HEALTH_TIMEOUT STOP_TIMEOUT; do
    [[ "${!key}" =~ ^[1-9][0-9]*$ ]] || errs+=("$key=\"${!key}\": want a positive integer")
  done
  for key in HEALTH_INTERVAL DRAIN_SECONDS; do
    [[ "${!key}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || errs+=("$key=\"${!key}\": want a number of seconds, e.g. 1 or 0.5")
  done
  [[ "$PUBLIC_URL" =~ ^https?://[^[:space:]]+$ ]] || errs+=("PUBLIC_URL=\"$PUBLIC_URL\": want an http(s) URL")
  [[ "$STATE_DIR" == /* ]] || errs+=("STATE_DIR=\"$STATE_DIR\": want an absolute path")
  case "$SWITCH" in
    nft | nginx)
      if [[ "$SWITCH" == nft ]]; then
        [[ "$SWITCH_PORT" =~ ^[0-9]{1,5}$ ]] && ((SWITCH_PORT >= 1 && SWITCH_PORT <= 65535)) ||
          errs+=("SWITCH_PORT=\"$SWITCH_PORT\": want a port 1-65535")
        [[ "$SWITCH_PORT" != "$BLUE_PORT" && "$SWITCH_PORT" != "$GREEN_PORT" ]] ||
          errs+=("SWITCH_PORT=\"$SWITCH_PORT\": want a port other than BLUE_PORT and GREEN_PORT")
        [[ -n "$NFT" ]] || errs+=("NFT is empty: want a command, e.g. nft or sudo -n /usr/sbin/nft")
      fi
      [[ "$NGINX_UPSTREAM_FILE" == /* ]] ||
        errs+=("NGINX_UPSTREAM_FILE=\"$NGINX_UPSTREAM_FILE\": want an absolute path")
      [[ -n "$NGINX_TEST_CMD" ]] || errs+=("NGINX_TEST_CMD is empty: want a command, e.g. nginx -t")
      [[ -n "$NGINX_RELOAD_CMD" ]] || errs+=("NGINX_RELOAD_CMD is empty: want a command, e.g. nginx -s reload")
      ;;
    alb)
      for key in LISTENER_ARN TG_BLUE_ARN TG_GREEN_ARN; do
        [[ "${!key}" =~ ^arn:aws[a-z-]*:elasticloadbalancing: ]] ||
          errs+=("$key=\"${!key}\": want an elasticloadbalancing ARN (required with SWITCH=alb)")
      done
      ;;
    *) errs+=("SWITCH=\"$SWITCH\": want nft, nginx or alb") ;;
  esac
  if ((${#errs[@]})); then
    log "error: invalid configuration in $ENV_FILE:"
    printf '  %s\n' "${errs[@]}" >&2
    exit 2
  fi
}

# valid_image_ref accepts a docker image reference: [registry[:port]/]name[/name...][:tag][@algo:hex].
valid_image_ref() {
  local host='([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
  local comp='[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*'
  local re="^(${host}(\\.${host})*(:[0-9]+)?/)?${comp}(/${comp})*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
  [[ ${#1} -le 255 && "$1" =~ $re ]]
}

# ---------------------------------------------------------------------------------------------- colours

port_of() { if [[ "$1" == blue ]]; then echo "$BLUE_PORT"; else echo "$GREEN_PORT"; fi; }
other() { if [[ "$1" == blue ]]; then echo green; else echo blue; fi; }
project() { echo "${APP_NAME}-$1"; }

# listening PORT: is anything listening on the port? lsof as root (as the seed did); otherwise ss, because lsof
# run by a non-root user cannot see root's docker-proxy and would report nothing live.
listening() {
  local out
  if [[ $EUID -eq 0 ]] && command -v "$LSOF" >/dev/null; then
    # lsof exits 1 both for "no match" and for errors; as root the latter does not happen in practice.
    "$LSOF" -nP -iTCP:"$1" -sTCP:LISTEN -t >/dev/null 2>&1
    return
  fi
  out="$("$SS" -Hltn "sport = :$1")" || die "ss failed to list listening sockets (set SS or install iproute2)"
  [[ -n "$out" ]]
}

# upstream_port prints the port the nginx upstream include points at, or nothing.
upstream_port() {
  [[ -r "$NGINX_UPSTREAM_FILE" ]] || return 0
  sed -n 's/^ *server 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$NGINX_UPSTREAM_FILE" | head -n1
}

# live_colour: the colour that serves. One listening port decides; with both listening (a run was killed after
# starting the new colour) the switch's own record decides (the include, the nft rule, or for the ALB and an nft
# rule lost to a reboot the colour deploy.sh last switched to); none listening means blue.
live_colour() {
  local blue=0 green=0 up=""
  listening "$BLUE_PORT" && blue=1
  listening "$GREEN_PORT" && green=1
  if ((blue && !green)); then echo blue; return; fi
  if ((green && !blue)); then echo green; return; fi
  if ((!blue && !green)); then echo none; return; fi
  case "$SWITCH" in
    nginx) up="$(upstream_port)" ;;
    nft) up="$(nft_rule_port)" ;;
  esac
  if [[ "$up" == "$GREEN_PORT" ]]; then echo green; elif [[ "$up" == "$BLUE_PORT" ]]; then echo blue; else
    cat "$STATE_DIR/live" 2>/dev/null || echo blue
  fi
}

compose_cmd() {
  if [[ -z "$COMPOSE" ]]; then
    if "$DOCKER" compose version >/dev/null 2>&1; then
      COMPOSE="$DOCKER compose"
    elif command -v docker-compose >/dev/null; then
      COMPOSE=docker-compose
    else
      die "neither 'docker compose' nor docker-compose is installed (or set COMPOSE)"
    fi
  fi
  # COMPOSE holds shell words ("docker compose"), so it is split on purpose.
  # shellcheck disable=SC2086
  $COMPOSE "$@"
}

compose_file() { echo "$STATE_DIR/$1.compose.yml"; }

write_compose_file() { # COLOUR IMAGE
  local env_line=""
  [[ -z "$CONTAINER_ENV_FILE" ]] || env_line="    env_file: [\"$CONTAINER_ENV_FILE\"]"
  cat >"$(compose_file "$1").tmp" <<EOF
# Written by deploy.sh for the $1 colour of $APP_NAME.
services:
  app:
    image: "$2"
    restart: unless-stopped
    # The default bridge: compose creates no per-project network, so starting is faster and stopping the colour
    # with plain docker stop/rm leaves nothing behind.
    network_mode: bridge
    ports: ["127.0.0.1:$(port_of "$1"):$APP_PORT"]
$env_line
EOF
  mv -f "$(compose_file "$1").tmp" "$(compose_file "$1")"
}

# remove_colour COLOUR: stop (SIGTERM, then the grace period) and remove the colour's containers, found by the
# compose project label: docker stop/rm take a fraction of a second where `docker-compose down` (python compose
# v1) takes seconds, and a run killed before the compose file existed is recovered the same way.
remove_colour() {
  local ids
  ids="$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$(project "$1")")"
  if [[ -n "$ids" ]]; then
    # One id per line; word splitting passes them as separate arguments.
    # shellcheck disable=SC2086
    "$DOCKER" stop --time "$STOP_TIMEOUT" $ids >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    "$DOCKER" rm -f $ids >/dev/null 2>&1 || true
  fi
  rm -f "$(compose_file "$1")"
}

colour_image() {
  "$DOCKER" ps --filter "label=com.docker.compose.project=$(project "$1")" --format '{{.Image}}' | head -n1
}

print_diagnostics() { # COLOUR
  if [[ -s "$HEALTH_LOG" ]]; then
    log "health answers of $1 (last 10):"
    tail -n 10 "$HEALTH_LOG" | sed 's/^/  /' >&2
  fi
  local id
  for id in $("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$(project "$1")"); do
    log "container logs of $1 ($id, last 50 lines):"
    "$DOCKER" logs --tail 50 "$id" 2>&1 | sed 's/^/  /' >&2 || true
  done
}

# ---------------------------------------------------------------------------------------------- health and switch

# elapsed START: seconds since START (an EPOCHREALTIME value), with milliseconds.
elapsed() {
  local now="$EPOCHREALTIME"
  printf '%d.%03d' $(((${now/./} - ${1/./}) / 1000000)) $((((${now/./} - ${1/./}) / 1000) % 1000))
}

# pause SECONDS: sleep in the background so a TERM is handled at once, not after the sleep.
pause() { sleep "$1" & wait $!; }

# micros SECONDS: "1.5" -> 1500000, in integer arithmetic (the value is validated as N or N.N).
micros() {
  local int="${1%%.*}" frac=""
  [[ "$1" != *.* ]] || frac="${1#*.}"
  frac="${frac}000000"
  echo $((10#$int * 1000000 + 10#${frac:0:6}))
}

# pause_rest START SECONDS: sleep until SECONDS have passed since START (an EPOCHREALTIME value).
pause_rest() {
  local left=$(($(micros "$2") - (${EPOCHREALTIME/./} - ${1/./})))
  ((left > 0)) || return 0
  pause "$(printf '%d.%06d' $((left / 1000000)) $((left % 1000000)))"
}

# http_get URL: prints "CODE BODY" (body on one line); never fails.
http_get() {
  local out
  out="$("$CURL" -sS --max-time 3 -o - -w ' HTTP %{http_code}' "$1" 2>&1)" || true
  printf '%s' "${out//$'\n'/ }"
}

health_gate() { # COLOUR BEGUN
  local url ok=0 answer probed deadline=$((SECONDS + HEALTH_TIMEOUT)) first=1
  url="http://127.0.0.1:$(port_of "$1")$HEALTH_PATH"
  log "waiting for $HEALTH_OK_COUNT consecutive healthy answers from $url (timeout ${HEALTH_TIMEOUT}s)"
  while ((SECONDS < deadline)); do
    probed="$EPOCHREALTIME"
    answer="$(http_get "$url")"
    TZ=UTC printf '%(%H:%M:%S)T %s\n' -1 "$answer" >>"$HEALTH_LOG"
    if [[ "$answer" =~ HTTP\ 2[0-9][0-9]\ *$ ]]; then
      # Logged for the benchmark: the deploy's overhead is what it spends beyond the app's own readiness.
      ((first == 0)) || log "first healthy answer from $1 at $(elapsed "$2")s"
      first=0
      ok=$((ok + 1))
      ((ok >= HEALTH_OK_COUNT)) && return 0
    else
      ok=0
    fi
    pause_rest "$probed" "$HEALTH_INTERVAL" # probes start HEALTH_INTERVAL apart, however long one takes
  done
  return 1
}

# upstream_conf PORT: the upstream include. internal/nginxsite.Upstream renders the same text (a test holds
# them together).
upstream_conf() { printf 'upstream deploylab_app {\n    server 127.0.0.1:%s;\n}\n' "$1"; }

run_words() { # CMD: the configured commands are shell words, split on purpose
  # shellcheck disable=SC2086
  $1 >&2
}

# nginx_switch PORT: write the new include beside the old, swap it in atomically, test, reload. nginx -t runs
# after the swap because it reads the include from its real path; the running nginx only sees the new file on
# reload, so a failed test is undone by swapping the saved copy back before anything served it.
nginx_switch() {
  local dir new
  dir="$(dirname "$NGINX_UPSTREAM_FILE")"
  mkdir -p "$dir"
  new="$(mktemp "$dir/.upstream.new.XXXXXX")"
  upstream_conf "$1" >"$new"
  chmod 0644 "$new"
  UPSTREAM_SAVED="$STATE_DIR/upstream.saved"
  if [[ -f "$NGINX_UPSTREAM_FILE" ]]; then cp -p "$NGINX_UPSTREAM_FILE" "$UPSTREAM_SAVED"; else : >"$UPSTREAM_SAVED"; fi
  PHASE=swapped
  mv -f "$new" "$NGINX_UPSTREAM_FILE"
  run_words "$NGINX_TEST_CMD" || die "nginx config test failed ($NGINX_TEST_CMD): not switching"
  PHASE=reloaded
  run_words "$NGINX_RELOAD_CMD" || die "nginx reload failed ($NGINX_RELOAD_CMD)"
}

# restore_upstream: put the saved include back and reload, so nginx keeps proxying to the old colour.
restore_upstream() {
  [[ -n "$UPSTREAM_SAVED" && -f "$UPSTREAM_SAVED" ]] || return 0
  local dir tmp
  dir="$(dirname "$NGINX_UPSTREAM_FILE")"
  if [[ -s "$UPSTREAM_SAVED" ]]; then
    tmp="$(mktemp "$dir/.upstream.new.XXXXXX")"
    cp "$UPSTREAM_SAVED" "$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$NGINX_UPSTREAM_FILE"
  else
    rm -f "$NGINX_UPSTREAM_FILE"
  fi
  if [[ "$PHASE" == reloaded ]]; then run_words "$NGINX_RELOAD_CMD" || log "warning: reload after restore failed"; fi
  rm -f "$UPSTREAM_SAVED"
}

tg_arn() { if [[ "$1" == blue ]]; then echo "$TG_BLUE_ARN"; else echo "$TG_GREEN_ARN"; fi; }

# alb_switch COLOUR: wait until the ALB sees the colour's target healthy, then forward the listener to it.
alb_switch() {
  local tg states deadline=$((SECONDS + ALB_HEALTH_TIMEOUT))
  tg="$(tg_arn "$1")"
  log "waiting for the ALB to report $tg healthy"
  while :; do
    states="$("$AWS_CLI" elbv2 describe-target-health --target-group-arn "$tg" \
      --query 'TargetHealthDescriptions[].TargetHealth.State' --output text)" || states="error"
    printf '%s alb %s\n' "$(date -u +%H:%M:%S)" "$states" >>"$HEALTH_LOG"
    # Every target of the group must be healthy (and there must be at least one).
    [[ "$(tr -s '[:space:]' '\n' <<<"$states" | sed '/^$/d' | sort -u)" == healthy ]] && break
    ((SECONDS < deadline)) || die "the ALB did not report $tg healthy within ${ALB_HEALTH_TIMEOUT}s (last: $states)"
    pause "$HEALTH_INTERVAL"
  done
  PHASE=reloaded
  "$AWS_CLI" elbv2 modify-listener --listener-arn "$LISTENER_ARN" \
    --default-actions "Type=forward,TargetGroupArn=$tg" >/dev/null || die "modify-listener failed"
  printf '%s\n' "$1" >"$STATE_DIR/live"
}

# nft_table: the app's own table, so deploy.sh never touches rules it did not write (docker's, the admin's).
nft_table() { echo "deploylab_$APP_NAME"; }

nft_words() { # ARGS...: NFT holds shell words ("sudo -n /usr/sbin/nft"), split on purpose
  # shellcheck disable=SC2086
  $NFT "$@"
}

# nft_rule_port prints the colour port the app's rule sends SWITCH_PORT to, or nothing (no table or no rule).
nft_rule_port() {
  { nft_words list chain ip "$(nft_table)" out 2>/dev/null || true; } |
    sed -n "s/.* tcp dport $SWITCH_PORT dnat to 127\.0\.0\.1:\([0-9]*\).*/\1/p" | head -n1
}

# nft_point COLOUR: send new connections to SWITCH_PORT on to the colour. One transaction: the table and chain
# are created if missing (first deploy, after a reboot), the chain is flushed and the new rule added; the kernel
# applies all of it or nothing, so there is never a moment without a rule. Established connections keep the
# mapping conntrack gave them, so requests in flight to the old colour finish there.
nft_point() {
  local t
  t="$(nft_table)"
  printf 'table ip %s {\n\tchain out { type nat hook output priority -100; policy accept; }\n}\n' "$t" >"$STATE_DIR/switch.nft"
  printf 'flush chain ip %s out\nadd rule ip %s out ip daddr 127.0.0.1 tcp dport %s dnat to 127.0.0.1:%s\n' \
    "$t" "$t" "$SWITCH_PORT" "$(port_of "$1")" >>"$STATE_DIR/switch.nft"
  nft_words -f "$STATE_DIR/switch.nft" >&2 || return 1
  printf '%s\n' "$1" >"$STATE_DIR/live"
}

# nft_include: nginx proxies to SWITCH_PORT. The include is rewritten, tested and nginx reloaded only if it points
# elsewhere (the first deploy with nft), never on a switch.
nft_include() {
  [[ "$(upstream_port)" != "$SWITCH_PORT" ]] || return 0
  log "pointing the nginx upstream at the switch port $SWITCH_PORT (once)"
  nginx_switch "$SWITCH_PORT"
}

alb_restore() { # COLOUR
  "$AWS_CLI" elbv2 modify-listener --listener-arn "$LISTENER_ARN" \
    --default-actions "Type=forward,TargetGroupArn=$(tg_arn "$1")" >/dev/null || log "warning: restoring the listener failed"
  printf '%s\n' "$1" >"$STATE_DIR/live"
}

# version_of COLOUR: what the colour itself answers on VERSION_PATH ("" when VERSION_PATH is empty).
version_of() {
  [[ -z "$VERSION_PATH" ]] || http_get "http://127.0.0.1:$(port_of "$1")$VERSION_PATH"
}

# wait_public WANT: PUBLIC_URL must answer WANT (the new colour's own answer on VERSION_PATH), which proves the
# switch took effect; with VERSION_PATH empty a 2xx is enough.
wait_public() {
  local want="$1" got i
  for i in {1..50}; do
    got="$(http_get "${PUBLIC_URL%/}${VERSION_PATH}")"
    if [[ "$got" =~ HTTP\ 2[0-9][0-9]\ *$ ]] && [[ -z "$want" || "$got" == "$want" ]]; then return 0; fi
    ((i < 50)) && pause 0.2
  done
  log "PUBLIC_URL ${PUBLIC_URL%/}${VERSION_PATH} answered: $got; the new colour answers: $want"
  return 1
}

# ---------------------------------------------------------------------------------------------- lock and cleanup

lock() { # IMAGE
  mkdir -p "$STATE_DIR"
  exec 9>>"$STATE_DIR/deploy.lock"
  if ! "$FLOCK" -n 9; then
    log "error: another deploy is running: $(cat "$STATE_DIR/deploy.holder" 2>/dev/null || echo 'holder unknown')"
    exit 3
  fi
  # flock is released by the kernel when its holder dies, even by SIGKILL: a holder file left behind names a
  # dead run, whose leftovers recover() cleans up.
  if [[ -s "$STATE_DIR/deploy.holder" ]]; then
    log "recovering after an interrupted run: $(cat "$STATE_DIR/deploy.holder")"
  fi
  printf 'pid=%s image=%s started=%s\n' "$$" "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$STATE_DIR/deploy.holder"
  LOCKED=1
}

cleanup() {
  local rc=$?
  trap - EXIT TERM INT HUP
  if ((rc != 0)) && [[ -n "$NEW_COLOUR" && "$PHASE" != finished && "$PHASE" != old-stopping ]]; then
    log "deploy failed (exit $rc) in phase $PHASE: keeping $OLD_COLOUR serving, removing $NEW_COLOUR"
    print_diagnostics "$NEW_COLOUR"
    case "$SWITCH" in
      nginx) restore_upstream ;;
      nft)
        restore_upstream
        if ((SWITCHED)) && [[ "$OLD_COLOUR" != none ]]; then
          nft_point "$OLD_COLOUR" || log "warning: pointing the nft rule back at $OLD_COLOUR failed"
        fi
        ;;
      alb) if [[ "$PHASE" == reloaded && "$OLD_COLOUR" != none ]]; then alb_restore "$OLD_COLOUR"; fi ;;
    esac
    remove_colour "$NEW_COLOUR"
  fi
  [[ -z "$HEALTH_LOG" ]] || rm -f "$HEALTH_LOG"
  ((LOCKED == 0)) || rm -f "${STATE_DIR:?}/deploy.holder"
  exit "$rc"
}

# recover: make the state consistent before a deploy (and at boot), whatever a killed run or a reboot left. The
# live colour keeps serving and the switch is made to point at it; the idle colour's containers and half-written
# files are removed.
recover() { # LIVE
  local dir
  if [[ "$SWITCH" != alb ]]; then
    dir="$(dirname "$NGINX_UPSTREAM_FILE")"
    find "$dir" -maxdepth 1 -name '.upstream.new.*' -delete 2>/dev/null || true
  fi
  if [[ "$1" != none ]]; then
    case "$SWITCH" in
      nginx)
        if [[ "$(upstream_port)" != "$(port_of "$1")" ]]; then
          log "recovering: nginx upstream does not point at live $1, pointing it back"
          nginx_switch "$(port_of "$1")"
        fi
        ;;
      nft)
        if [[ "$(nft_rule_port)" != "$(port_of "$1")" ]]; then
          log "recovering: the nft rule does not send port $SWITCH_PORT to live $1, pointing it back"
          nft_point "$1" || die "nft failed to point port $SWITCH_PORT at $1 ($NFT -f $STATE_DIR/switch.nft)"
        fi
        nft_include
        ;;
    esac
    PHASE=idle
  fi
  rm -f "$STATE_DIR/upstream.saved"
  remove_colour "$(other "${1/none/blue}")"
  [[ "$1" != none ]] || remove_colour blue
}

# ---------------------------------------------------------------------------------------------- commands

cmd_deploy() { # IMAGE
  local image="$1" live old_image begun="$EPOCHREALTIME"
  lock "$image"
  trap cleanup EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  trap 'exit 129' HUP
  live="$(live_colour)"
  recover "$live"
  OLD_COLOUR="$live"
  NEW_COLOUR="$(other "${live/none/green}")"
  old_image=""
  [[ "$live" == none ]] || old_image="$(colour_image "$live")"
  log "live: $live${old_image:+ ($old_image)}; deploying $image to $NEW_COLOUR on port $(port_of "$NEW_COLOUR")"

  HEALTH_LOG="$(mktemp)"
  PHASE=starting
  write_compose_file "$NEW_COLOUR" "$image"
  compose_cmd -p "$(project "$NEW_COLOUR")" -f "$(compose_file "$NEW_COLOUR")" up -d --remove-orphans >&2 ||
    die "could not start $image as $NEW_COLOUR"
  log "$NEW_COLOUR up at $(elapsed "$begun")s"
  PHASE=gating
  local started="$EPOCHREALTIME"
  health_gate "$NEW_COLOUR" "$begun" || die "$image did not become healthy on port $(port_of "$NEW_COLOUR")"
  log "$NEW_COLOUR ready after $(elapsed "$started")s"
  local want
  want="$(version_of "$NEW_COLOUR")"

  log "switching to $NEW_COLOUR"
  local switched=""
  SWITCHED=1
  case "$SWITCH" in
    nft)
      nft_point "$NEW_COLOUR" || die "nft failed to point port $SWITCH_PORT at $NEW_COLOUR ($NFT -f $STATE_DIR/switch.nft)"
      switched="$EPOCHREALTIME"
      nft_include
      ;;
    nginx) nginx_switch "$(port_of "$NEW_COLOUR")" ;;
    alb) alb_switch "$NEW_COLOUR" ;;
  esac
  [[ -n "$switched" ]] || switched="$EPOCHREALTIME"
  wait_public "$want" || die "PUBLIC_URL does not answer with the new version after the switch"

  if [[ "$live" != none ]]; then
    log "draining $live for ${DRAIN_SECONDS}s after the switch"
    pause_rest "$switched" "$DRAIN_SECONDS"
    # From here the old colour is going away: a failure can no longer fall back to it.
    PHASE=old-stopping
    log "stopping $live (SIGTERM, up to ${STOP_TIMEOUT}s for requests in flight)"
    remove_colour "$live"
    local i
    for i in {1..50}; do
      listening "$(port_of "$live")" || break
      ((i < 50)) || die "old port $(port_of "$live") still listening after removing $live"
      pause 0.2
    done
    [[ -z "$old_image" ]] || printf '%s\n' "$old_image" >"$STATE_DIR/previous_image"
  fi
  wait_public "$want" || die "PUBLIC_URL stopped answering after removing $live"
  printf '%s\n' "$image" >"$STATE_DIR/current_image"
  rm -f "$STATE_DIR/upstream.saved"
  PHASE=finished
  log "deployed $image as $NEW_COLOUR in $(elapsed "$begun")s"
}

cmd_rollback() {
  local previous
  previous="$(cat "$STATE_DIR/previous_image" 2>/dev/null || true)"
  [[ -n "$previous" ]] || die "no previous image recorded in $STATE_DIR/previous_image: nothing to roll back to"
  log "rolling back to $previous"
  cmd_deploy "$previous"
}

cmd_status() {
  local live rule
  live="$(live_colour)"
  printf 'app:      %s\n' "$APP_NAME"
  if [[ "$live" == none ]]; then
    printf 'live:     none\n'
  else
    printf 'live:     %s (port %s)\nimage:    %s\n' "$live" "$(port_of "$live")" "$(colour_image "$live" 2>/dev/null || echo unknown)"
  fi
  printf 'previous: %s\n' "$(cat "$STATE_DIR/previous_image" 2>/dev/null || echo none)"
  case "$SWITCH" in
    nft)
      rule="$(nft_rule_port)"
      printf 'switch:   nft 127.0.0.1:%s -> %s\n' "$SWITCH_PORT" "${rule:-no rule (run deploy.sh restore)}"
      ;;
    nginx) printf 'switch:   nginx upstream -> %s\n' "$(upstream_port)" ;;
    alb) printf 'switch:   alb -> %s\n' "$(cat "$STATE_DIR/live" 2>/dev/null || echo unknown)" ;;
  esac
  if [[ -f "$STATE_DIR/deploy.lock" ]] && ! "$FLOCK" -n "$STATE_DIR/deploy.lock" true 2>/dev/null; then
    printf 'deploying: %s\n' "$(cat "$STATE_DIR/deploy.holder" 2>/dev/null || echo 'holder unknown')"
  fi
}

# cmd_restore: point the switch at the live colour again. nft rules live in the kernel and are gone after a
# reboot; docker brings the colours back by itself (restart: unless-stopped), so at boot this waits for a colour
# to listen when a deploy has happened before.
cmd_restore() {
  local live deadline=$((SECONDS + HEALTH_TIMEOUT))
  lock "(restore)"
  trap cleanup EXIT
  live="$(live_colour)"
  while [[ "$live" == none && -s "$STATE_DIR/current_image" ]] && ((SECONDS < deadline)); do
    log "no colour listens yet on $BLUE_PORT or $GREEN_PORT: waiting for docker to restart it"
    pause 1
    live="$(live_colour)"
  done
  recover "$live"
  log "restored: live $live (switch $SWITCH)"
}

main() {
  (($# >= 1)) || usage_error "missing command"
  case "$1" in
    deploy)
      (($# == 2)) || usage_error "deploy takes exactly one IMAGE"
      valid_image_ref "$2" ||
        usage_error "IMAGE \"$2\" is not a docker image reference: want [registry[:port]/]name[:tag][@sha256:digest]"
      load_config
      cmd_deploy "$2"
      ;;
    rollback)
      (($# == 1)) || usage_error "rollback takes no arguments"
      load_config
      cmd_rollback
      ;;
    status)
      (($# == 1)) || usage_error "status takes no arguments"
      load_config
      cmd_status
      ;;
    restore)
      (($# == 1)) || usage_error "restore takes no arguments"
      load_config
      cmd_restore
      ;;
    *) usage_error "unknown command \"$1\": want deploy, rollback, status or restore" ;;
  esac
}

main "$@"
