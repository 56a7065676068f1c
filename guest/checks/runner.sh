#!/bin/bash
# Runs a batch of validation checks in the guest (vexfs-image validate, src/validate/guest-exec.ts).
# The host sends `vx_nonce=RANDOM`, `vx_checks=$'...'` (the check functions: every other
# guest/checks/*.sh, in name order), this file, then one line per check on bash's stdin, run by
# `sudo -n bash -s` (or plain `bash -s` when no check of the batch needs root):
#   vx_run INDEX TIMEOUT_S AS_ROOT(0|1) PASS_EXIT NEEDS SCRIPT
# SCRIPT is one $'...' word (bash decodes it: no base64 process); for every type but `command`
# it is one call of a check function (`check_file /etc/vexfs/vexfs.conf`). PASS_EXIT is the exit code with
# which the check passes ("-": its verdict needs the host) and NEEDS the comma-separated indices
# of earlier checks of this batch it needs ("-": none); the host only sends a check with NEEDS
# when each needed check's verdict is its exit code alone, so the guest's "skip" is the host's.
#
# Output, all on stdout, every marker line starting with "@@vx-$vx_nonce " (a check cannot forge
# one: it never sees the nonce):
#   @@vx-N out INDEX        then the check's stdout, then a newline
#   @@vx-N err INDEX        (only when it wrote to stderr) its stderr, first 16 KiB, then a newline
#   @@vx-N result INDEX EXIT_CODE DURATION_MS TIMED_OUT(0|1)
# or, for a check not run because a check it needs did not pass:
#   @@vx-N skipped INDEX NEEDED_INDEX
#
# Under TCG every process costs 50-150 ms (exec, dynamic loading), a fork ~12 ms: a check costs
# two forks of this shell, no exec of its own. The timeout is a `read -t` on a FIFO the check's
# wrapper writes its exit code to; job control (set -m) puts each check in its own process group,
# so a timed-out check is killed with everything it started. Checks that do not need root run as
# the invoking user (SUDO_UID) through setpriv + bash (two execs: only four built-in checks).
set -u
set -m
# Set by the host's first lines of the batch.
: "${vx_nonce:?the host sets vx_nonce before this file}"
: "${vx_checks?the host sets vx_checks before this file}"
# The check functions, defined once per batch: each check's subshell inherits them.
eval "$vx_checks"
vx_passed=()
vx_tmp=$(mktemp -d /tmp/vexfs-checks.XXXXXX)
trap 'rm -rf "$vx_tmp"' EXIT
mkfifo "$vx_tmp/done"
exec {vx_done}<>"$vx_tmp/done"

# Checks run from / ; under sudo, the invoking user's home is looked up once, not per check.
cd /
vx_user_home=
if [ "$EUID" = 0 ] && [ -n "${SUDO_UID:-}" ]; then
  vx_user_home=$(getent passwd "$SUDO_UID" | cut -d: -f6)
  vx_user_home=${vx_user_home:-/}
fi

# The check itself, in a subshell of the wrapper. The runner keeps its state in vx_* globals (no
# locals: a local would survive the unset below): the check sees none of them, not the nonce,
# but does see the check functions (check_*).
vx_check() {
  exec {vx_done}>&- </dev/null 2>"$vx_tmp/err"
  if [ "$vx_as_root" = 0 ] && [ -n "$vx_user_home" ]; then
    # A new bash as the user: the check functions' text, then the script run as in the subshell
    # below (`eval "shift; $1"`: no variable of ours, no arguments left). sudo sets SUDO_GID
    # with SUDO_UID.
    # shellcheck disable=SC2016,SC2153
    HOME="$vx_user_home" USER="${SUDO_USER:-}" LOGNAME="${SUDO_USER:-}" \
      exec setpriv --reuid="$SUDO_UID" --regid="$SUDO_GID" --init-groups -- bash -c "$vx_checks"$'\n''eval "shift; $1"' bash "$vx_script"
  fi
  set -- "$vx_script"
  unset -v "${!vx_@}"
  unset -f vx_run vx_check
  set +u +m
  trap - EXIT
  eval "shift; $1"
}

vx_run() {
  vx_idx=$1 vx_limit=$2 vx_as_root=$3 vx_pass_exit=$4 vx_needs=$5 vx_script=$6 vx_rc='' vx_timed_out=0
  vx_tag="@@vx-$vx_nonce"
  if [ "$vx_needs" != - ]; then
    for vx_n in ${vx_needs//,/ }; do
      if [ "${vx_passed[$vx_n]:-0}" != 1 ]; then printf '%s skipped %s %s\n' "$vx_tag" "$vx_idx" "$vx_n"; return; fi
    done
  fi
  printf '%s out %s\n' "$vx_tag" "$vx_idx"
  vx_start=${EPOCHREALTIME/[.,]/}
  ( (vx_check); printf '%s %s\n' "$vx_idx" "$?" >&"$vx_done" ) &
  vx_pid=$!
  # Wait for this check's line (the line of an earlier, killed check may still arrive: skip it).
  while :; do
    vx_ms=$(( vx_limit * 1000 - (10#${EPOCHREALTIME/[.,]/} - 10#$vx_start) / 1000 ))
    [ "$vx_ms" -gt 0 ] || break
    printf -v vx_t '%d.%03d' $((vx_ms / 1000)) $((vx_ms % 1000))
    read -r -t "$vx_t" -u "$vx_done" vx_got_idx vx_got_rc || break
    if [ "$vx_got_idx" = "$vx_idx" ]; then vx_rc=$vx_got_rc; break; fi
  done
  if [ -z "$vx_rc" ]; then
    vx_timed_out=1 vx_rc=124
    kill -TERM -- "-$vx_pid" 2>/dev/null
    # Up to two seconds to exit after TERM (as `timeout -k 2`), then KILL. (`read -t` on the
    # FIFO is the sleep: no process.)
    for ((vx_n = 0; vx_n < 20; vx_n++)); do
      kill -0 -- "-$vx_pid" 2>/dev/null || break
      read -r -t 0.1 -u "$vx_done" vx_got_idx vx_got_rc
    done
    kill -KILL -- "-$vx_pid" 2>/dev/null
  fi
  wait "$vx_pid" 2>/dev/null
  vx_ms=$(( (10#${EPOCHREALTIME/[.,]/} - 10#$vx_start) / 1000 ))
  if [ "$vx_timed_out" = 0 ] && [ "$vx_rc" = "$vx_pass_exit" ]; then vx_passed[vx_idx]=1; fi
  printf '\n'
  # Most checks print nothing on stderr: no process for an empty file.
  if [ -s "$vx_tmp/err" ]; then
    printf '%s err %s\n' "$vx_tag" "$vx_idx"
    head -c 16384 "$vx_tmp/err"
    printf '\n'
  fi
  printf '%s result %s %s %s %s\n' "$vx_tag" "$vx_idx" "$vx_rc" "$vx_ms" "$vx_timed_out"
}
