#!/usr/bin/env bash
# Tests an Ansible role on a real Linux target.
#
#   ./test.sh                                 list the roles
#   ./test.sh [--provider local|vagrant] ROLE...
#   ./test.sh [--provider local|vagrant] --all     every role
#   ./test.sh site                            site.yml, every role on one target
#
# For each role, dev-sec's sequence: bring up a target, run
# playbooks/tests/ROLE/prepare.yml (if any), then playbooks/ROLE.yml
#   check        with --check on the fresh target: a dry run must not fail
#   converge     for real
#   idempotence  again, failing if any task reports `changed`
#   verify       playbooks/tests/ROLE/verify.yml, then tests/listening.yml with
#                tests/ROLE/services.yml: the role's services enabled and active,
#                no failed unit, nothing listening beyond loopback but the role's
#                ports, epmd on loopback only; no canary secret in any output
#   reboot       reboot the machine, then verify again: every service the role
#                enables must come back by itself
#   restart      tests/restart.yml: SIGKILL to the main process of each service
#                of tests/ROLE/services.yml; systemd must start it again
# and tear the target down, also on failure and on Ctrl-C.
#
# Providers:
#   vagrant  the top-level Vagrantfile (Ubuntu 22.04, box generic/ubuntu2204 for
#            VirtualBox or libvirt): vagrant up, provision with Vagrant's insecure
#            key, vagrant reload to reboot, vagrant destroy.
#   local    localcloud/target.ts: a Debian 12 machine with systemd as PID 1
#            (systemd-nspawn) in a network namespace of its own, from the local
#            cloud's minimal base root (root, systemd-container, debootstrap).
# Default: vagrant when vagrant and a usable provider exist, otherwise local.
#
# Environment:
#   ARGOS_TEST_CLOUD      name of the local provider's cloud (default rt; 1-4 characters)
#   ARGOS_TEST_KEEP=1     leave the target running after the test (for debugging)
#   ANSIBLE_VERBOSITY     passed through to ansible-playbook
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly REPO_ROOT
readonly PLAYBOOKS="$REPO_ROOT/playbooks"
readonly TESTS="$PLAYBOOKS/tests"
readonly WORK_DIR="$REPO_ROOT/.cache/test"
# A name like the ones the CLI's inventory holds, so the ssh_config mapping is exercised.
readonly TARGET_NAME="ec2-198-51-100-10.compute-1.amazonaws.com"
readonly LOCAL_TARGET=(npx --no-install tsx "$REPO_ROOT/localcloud/target.ts")
readonly CLOUD_NAME="${ARGOS_TEST_CLOUD:-rt}"
# Packages downloaded by the local machines, kept between runs.
readonly APT_CACHE="$WORK_DIR/apt-archives"

PROVIDER=""
ROLES=()
CURRENT_TARGET=""   # "local" or "vagrant" while a target is up
STATE_DIR=""
ROLE=""
CURRENT_PHASE=""

log() { printf '==> %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
fmt_ms() { printf '%d.%01ds' $(($1 / 1000)) $((($1 % 1000) / 100)); }

list_roles() {
  local playbook role
  for playbook in "$PLAYBOOKS"/*.yml; do
    role="$(basename "$playbook" .yml)"
    [ -d "$PLAYBOOKS/roles/$role" ] && echo "$role"
  done
  return 0
}

# Playbooks with a test that are not a role's (site: everything on one target).
list_extra_tests() {
  local playbook name
  for playbook in "$PLAYBOOKS"/*.yml; do
    name="$(basename "$playbook" .yml)"
    [ ! -d "$PLAYBOOKS/roles/$name" ] && [ -f "$TESTS/$name/verify.yml" ] && echo "$name"
  done
  return 0
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
  echo "Roles:"
  list_roles | sed 's/^/  /'
}

# The Vagrantfile's box (generic/ubuntu2204) exists for VirtualBox and libvirt.
vagrant_usable() {
  command -v vagrant >/dev/null 2>&1 || return 1
  command -v VBoxManage >/dev/null 2>&1 || command -v virsh >/dev/null 2>&1
}

# Prints why the local provider cannot run here (empty when it can).
local_problem() { { (cd "$REPO_ROOT" && "${LOCAL_TARGET[@]}" check) >/dev/null; } 2>&1 || true; }

choose_provider() {
  if [ -n "$PROVIDER" ]; then
    case "$PROVIDER" in
      vagrant) vagrant_usable || die "provider vagrant: vagrant or a hypervisor (VirtualBox or libvirt) is missing" ;;
      local)
        local problem
        problem="$(local_problem)"
        [ -z "$problem" ] || die "provider local: $problem"
        ;;
      *) die "unknown provider '$PROVIDER' (vagrant or local)" ;;
    esac
    return
  fi
  if vagrant_usable; then PROVIDER=vagrant; return; fi
  local problem
  problem="$(local_problem)"
  if [ -z "$problem" ]; then PROVIDER=local; return; fi
  die "no target provider can run here: vagrant: vagrant or a hypervisor is missing; local: $problem"
}

# Builds a bare git repository from the sample app fixture (the target clones it
# without internet).
build_fixture_repo() {
  local repo="$WORK_DIR/sample-app.git" tmp="$WORK_DIR/sample-app.work"
  rm -rf "$repo" "$tmp"
  mkdir -p "$tmp"
  cp -a "$REPO_ROOT/test/fixtures/sample-app/." "$tmp/"
  git -C "$tmp" init -q -b main
  git -C "$tmp" add -A
  git -C "$tmp" -c user.name=argos-test -c user.email=argos-test@example.invalid \
    -c commit.gpgsign=false commit -q -m "sample app"
  git clone -q --bare "$tmp" "$repo"
  rm -rf "$tmp"
  # The target clones it as the app user, not as the owner.
  chmod -R a+rX "$repo"
}

target_up() {
  local role="$1"
  mkdir -p "$WORK_DIR"
  STATE_DIR="$WORK_DIR/$PROVIDER-$role"
  rm -rf "$STATE_DIR"
  mkdir -p "$STATE_DIR"
  build_fixture_repo
  local inventory="$STATE_DIR/inventory.ini" git_repo ssh_config
  # Overrides for the test: the fixture repo, the provider's private address.
  printf -- '---\n' >"$STATE_DIR/provider-vars.yml"
  case "$PROVIDER" in
    local)
      CURRENT_TARGET=local
      mkdir -p "$APT_CACHE"
      (cd "$REPO_ROOT" && "${LOCAL_TARGET[@]}" up --name "$CLOUD_NAME" --state-dir "$STATE_DIR/target" \
        --host "$TARGET_NAME" --apt-cache "$APT_CACHE" \
        --copy "$WORK_DIR/sample-app.git:/srv/fixtures/sample-app.git") >"$STATE_DIR/target.env"
      git_repo="file:///srv/fixtures/sample-app.git"
      ssh_config="$(sed -n 's/^SSH_CONFIG=//p' "$STATE_DIR/target.env")"
      # The machine has no default route (the cloud is sealed), so Ansible's
      # default_ipv4 is empty: name the private address the broker binds.
      printf 'broker_bind_address: %s\n' "$(sed -n 's/^PRIVATE_IP=//p' "$STATE_DIR/target.env")" >>"$STATE_DIR/provider-vars.yml"
      ;;
    vagrant)
      CURRENT_TARGET=vagrant
      (cd "$REPO_ROOT" && vagrant up --no-provision)
      git_repo="file:///vagrant/.cache/test/sample-app.git"
      ssh_config="$STATE_DIR/ssh_config"
      (cd "$REPO_ROOT" && vagrant ssh-config --host "$TARGET_NAME") >"$ssh_config"
      ;;
  esac
  # One host in every group, reached through the provider's ssh_config.
  cat >"$inventory" <<EOF
[appservers]
$TARGET_NAME
[brokers]
$TARGET_NAME
[workers]
$TARGET_NAME

[all:vars]
ansible_ssh_common_args='-F $ssh_config'
EOF
  printf 'git_repo: %s\n' "$git_repo" >>"$STATE_DIR/provider-vars.yml"
  # The app user clones the fixture repository, which root owns.
  run_playbook "$TESTS/target.yml" "$STATE_DIR/target.log" >/dev/null
}

# Reboots the target and returns once SSH answers again.
target_reboot() {
  case "$CURRENT_TARGET" in
    local)
      (cd "$REPO_ROOT" && "${LOCAL_TARGET[@]}" reboot --name "$CLOUD_NAME" --state-dir "$STATE_DIR/target")
      # SSH answers before every unit has started: wait for the boot to finish (running or
      # degraded; the checks say which), so the verify judges the services, not a race.
      timeout 120 ssh -F "$(sed -n 's/^SSH_CONFIG=//p' "$STATE_DIR/target.env")" "$(sed -n 's/^HOST=//p' "$STATE_DIR/target.env")" \
        systemctl is-system-running --wait >/dev/null || true ;;
    vagrant) (cd "$REPO_ROOT" && vagrant reload --no-provision) ;;
  esac
}

target_down() {
  [ -n "$CURRENT_TARGET" ] || return 0
  local started
  started=$(now_ms)
  # Ansible's ControlPersist masters would outlive the run: close them.
  local socket
  for socket in "$STATE_DIR"/cp/*; do
    if [ -S "$socket" ]; then ssh -o ControlPath="$socket" -O exit dummy >/dev/null 2>&1 || true; fi
  done
  case "$CURRENT_TARGET" in
    local) (cd "$REPO_ROOT" && "${LOCAL_TARGET[@]}" down --name "$CLOUD_NAME" --state-dir "$STATE_DIR/target" --apt-cache "$APT_CACHE") >/dev/null \
      || echo "test.sh: local target teardown failed; run: npx tsx localcloud/target.ts down --name $CLOUD_NAME" >&2 ;;
    vagrant) (cd "$REPO_ROOT" && vagrant destroy -f) || echo "test.sh: vagrant destroy failed" >&2 ;;
  esac
  CURRENT_TARGET=""
  log "down: $(fmt_ms $(($(now_ms) - started)))"
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ] && [ -n "$CURRENT_PHASE" ]; then
    echo "test.sh: $ROLE: $CURRENT_PHASE FAILED (logs in $STATE_DIR)" >&2
  fi
  if [ "${ARGOS_TEST_KEEP:-0}" = 1 ] && [ -n "$CURRENT_TARGET" ]; then
    log "target kept (ARGOS_TEST_KEEP=1): $STATE_DIR"
  else
    target_down
  fi
  exit "$rc"
}

on_signal() {
  echo "test.sh: interrupted, tearing the target down" >&2
  exit 130
}

# Runs one playbook against the target; $2 is the log file, the rest are more
# ansible-playbook options.
run_playbook() {
  local playbook="$1" logfile="$2"
  shift 2
  ANSIBLE_PIPELINING=true \
  ANSIBLE_RETRY_FILES_ENABLED=false \
  ANSIBLE_SSH_CONTROL_PATH_DIR="$STATE_DIR/cp" \
  ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-false}" \
  ANSIBLE_ROLES_PATH="$PLAYBOOKS/roles" \
    ansible-playbook -i "$STATE_DIR/inventory.ini" \
      -e "@$PLAYBOOKS/group_vars/all-sample.yml" \
      -e "@$TESTS/vars.yml" \
      -e "@$STATE_DIR/provider-vars.yml" \
      "$@" "$playbook" 2>&1 | tee "$logfile"
}

# Runs one phase and prints its time. A failing phase exits the script (set -e),
# and on_exit names it and tears the target down.
phase() {
  local name="$1"; shift
  local started
  started=$(now_ms)
  CURRENT_PHASE="$name"
  log "$ROLE: $name"
  "$@"
  CURRENT_PHASE=""
  log "$ROLE: $name ok in $(fmt_ms $(($(now_ms) - started)))"
  TIMINGS+=("$(printf '%-10s %-20s %s' "$ROLE" "$name" "$(fmt_ms $(($(now_ms) - started)))")")
}

# A dry run on the prepared target, before the role's first real run: it may
# report changes; it must not fail.
check() { run_playbook "$PLAYBOOKS/$ROLE.yml" "$STATE_DIR/check.log" --check; }

converge() { run_playbook "$PLAYBOOKS/$ROLE.yml" "$STATE_DIR/converge.log"; }

idempotence() {
  run_playbook "$PLAYBOOKS/$ROLE.yml" "$STATE_DIR/idempotence.log"
  if grep -E '^[^ ]+ +: ok=.* changed=[1-9]' "$STATE_DIR/idempotence.log" >/dev/null; then
    echo "test.sh: not idempotent: the second run changed:" >&2
    grep -E '^changed: ' -B2 "$STATE_DIR/idempotence.log" >&2 || true
    return 1
  fi
  grep -E ' changed=0 ' "$STATE_DIR/idempotence.log" >/dev/null || { echo "test.sh: no PLAY RECAP found" >&2; return 1; }
}

prepare() {
  local playbook="$TESTS/$ROLE/prepare.yml"
  [ -f "$playbook" ] || { echo "(no prepare playbook)"; return 0; }
  run_playbook "$playbook" "$STATE_DIR/prepare.log"
}

# The role's services and listening sockets (tests/listening.yml), with the
# role's tests/ROLE/services.yml; $1 names the log.
check_services() {
  local vars="$TESTS/$ROLE/services.yml"
  [ -f "$vars" ] || { echo "test.sh: no $vars (test_services, test_public_ports)" >&2; return 1; }
  run_playbook "$TESTS/listening.yml" "$STATE_DIR/$1.log" -e "@$vars"
}

# The test config's passwords are canaries: no Ansible output may show them.
scan_canaries() {
  local secret secrets
  mapfile -t secrets < <(sed -n -E 's/^(db_pass|broker_pass): *//p' "$TESTS/vars.yml")
  [ ${#secrets[@]} -eq 2 ] || { echo "test.sh: canary secrets not found in $TESTS/vars.yml" >&2; return 1; }
  for secret in "${secrets[@]}"; do
    if grep -lF -- "$secret" "$STATE_DIR"/*.log >&2; then
      echo "test.sh: a secret of the test config appears in the Ansible output above (no_log missing)" >&2
      return 1
    fi
  done
}

# $1: a suffix of the log names (the second verify runs after the reboot).
verify() {
  local suffix="${1:-}"
  local playbook="$TESTS/$ROLE/verify.yml"
  [ -f "$playbook" ] || { echo "test.sh: no verify playbook $playbook" >&2; return 1; }
  run_playbook "$playbook" "$STATE_DIR/verify$suffix.log"
  check_services "listening$suffix"
  scan_canaries
}

verify_after_reboot() { verify -after-reboot; }

restart() {
  local vars="$TESTS/$ROLE/services.yml"
  run_playbook "$TESTS/restart.yml" "$STATE_DIR/restart.log" -e "@$vars"
  # The killed services serve again.
  verify -after-restart
}

test_role() {
  ROLE="$1"
  { [ -f "$PLAYBOOKS/$ROLE.yml" ] && { [ -d "$PLAYBOOKS/roles/$ROLE" ] || [ -f "$TESTS/$ROLE/verify.yml" ]; }; } || die "unknown role '$ROLE'; roles: $(list_roles | tr '\n' ' ')"
  local started
  started=$(now_ms)
  phase "up ($PROVIDER)" target_up "$ROLE"
  phase prepare prepare
  phase check check
  phase converge converge
  phase idempotence idempotence
  phase verify verify
  phase reboot target_reboot
  phase "verify after reboot" verify_after_reboot
  phase restart restart
  if [ "${ARGOS_TEST_KEEP:-0}" != 1 ]; then target_down; fi
  log "$ROLE: PASSED in $(fmt_ms $(($(now_ms) - started)))"
  TIMINGS+=("$(printf '%-10s %-20s %s' "$ROLE" total "$(fmt_ms $(($(now_ms) - started)))")")
}

main() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --provider) PROVIDER="${2:?--provider needs local or vagrant}"; shift 2 ;;
      --provider=*) PROVIDER="${1#--provider=}"; shift ;;
      --all) mapfile -t -O "${#ROLES[@]}" ROLES < <(list_roles); shift ;;
      --list) list_roles; exit 0 ;;
      -h|--help) usage; exit 0 ;;
      -*) die "unknown option: $1" ;;
      *) ROLES+=("$1"); shift ;;
    esac
  done
  if [ ${#ROLES[@]} -eq 0 ]; then
    echo "Usage: ./test.sh [--provider local|vagrant] ROLE... | --all"
    echo "Roles:"
    list_roles | sed 's/^/  /'
    echo "Other tests (not in --all):"
    list_extra_tests | sed 's/^/  /'
    exit 0
  fi
  command -v ansible-playbook >/dev/null 2>&1 || die "ansible-playbook not found (apt-get install ansible-core)"
  choose_provider
  TIMINGS=()
  trap on_exit EXIT
  trap on_signal INT TERM
  local role
  for role in "${ROLES[@]}"; do
    test_role "$role"
  done
  log "timings:"
  printf '    %s\n' "${TIMINGS[@]}"
}

main "$@"
