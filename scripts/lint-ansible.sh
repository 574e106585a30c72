#!/usr/bin/env bash
# Lints the Ansible side: syntax-check of every playbook, ansible-lint (config in
# .ansible-lint), the roles' contracts (scripts/check-role-specs.py: every
# defaults/main.yml variable typed in meta/argument_specs.yml, with the same
# default), and shellcheck of test.sh, scripts/*.sh and localcloud/*.sh. `npm test` runs it.
# Exit status: 0 clean, 1 findings, 2 a tool is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
for tool in ansible-playbook ansible-lint shellcheck; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lint-ansible: missing ${missing[*]} (apt-get install ansible-core ansible-lint shellcheck)" >&2
  exit 2
fi

status=0
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=false

echo "==> ansible-playbook --syntax-check"
playbooks=()
# Not playbooks: the tests' variables (vars.yml, each role's services.yml) and
# the task file tests/restart.yml includes.
for playbook in playbooks/*.yml playbooks/tests/*.yml playbooks/tests/*/*.yml; do
  case "$playbook" in
    playbooks/tests/vars.yml|playbooks/tests/*/services.yml|playbooks/tests/restart-one.yml) ;;
    *) playbooks+=("$playbook") ;;
  esac
done
# One run checks them all (ansible-playbook takes several playbooks); it names
# the playbook at fault.
if ! output="$(ansible-playbook --syntax-check -i localhost, \
    -e @playbooks/group_vars/all-sample.yml -e @playbooks/tests/vars.yml "${playbooks[@]}" 2>&1)"; then
  echo "$output" >&2
  status=1
fi

echo "==> ansible-lint"
ansible-lint --nocolor -q || status=1

echo "==> role contracts (defaults/main.yml and meta/argument_specs.yml)"
python3 scripts/check-role-specs.py || status=1

echo "==> shellcheck"
shellcheck test.sh scripts/*.sh localcloud/*.sh || status=1

[ "$status" -eq 0 ] && echo "lint-ansible: clean"
exit "$status"
