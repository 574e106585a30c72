#!/usr/bin/env bash
# The wrapper of one machine: joins the machine's own cgroup, boots it with
# systemd-nspawn inside the cloud's network namespace, and boots it again when it
# asks for a reboot (nspawn exits with 133 instead of rebooting).
#
#   run-machine.sh NAME ROOT DIR NETNS CGROUP [NSPAWN-OPTION...]
#
# DIR gets nspawn.pid (the current nspawn's PID), console.log, and one line per
# nspawn exit in exits ("<epoch> rc=<code>"). A file DIR/stop means "do not boot
# again". The wrapper exits when the machine powers off (or is stopped).
set -uo pipefail
name=$1 root=$2 dir=$3 netns=$4 cgroup=$5
shift 5
# The rest: extra nspawn options (the cloud's read-only binds).

# On this hybrid-cgroup host nspawn reads its own cgroup from the unified
# hierarchy and puts the machine in payload/ below it: without a cgroup of our
# own every machine would land in the same /payload.
for h in systemd unified; do
  if [ -d "/sys/fs/cgroup/$h" ]; then
    mkdir -p "/sys/fs/cgroup/$h/$cgroup" && echo $$ > "/sys/fs/cgroup/$h/$cgroup/cgroup.procs"
  fi
done

while :; do
  # nsenter, not "ip netns exec": the latter remounts /sys and hides /sys/fs/cgroup.
  nsenter "--net=/run/netns/$netns" systemd-nspawn -D "$root" -M "$name" --boot \
    --register=no --keep-unit --console=read-only --setenv=SYSTEMD_COLORS=0 \
    --link-journal=no --network-bridge=lcbr0 "$@" </dev/null >>"$dir/console.log" 2>&1 &
  echo $! > "$dir/nspawn.pid"
  rc=0; wait $! || rc=$?
  echo "$(date +%s.%N) rc=$rc" >> "$dir/exits"
  if [ "$rc" -ne 133 ] || [ -e "$dir/stop" ]; then break; fi
done
rm -f "$dir/nspawn.pid"
