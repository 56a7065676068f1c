#!/bin/bash
# Runs a batch of validation checks in the guest (vexfs-image validate, src/validate/guest-exec.ts).
# The host sends this file followed by one line per check on bash's stdin, run by `sudo -n bash -s`
# (or plain `bash -s` when no check of the batch needs root):
#   vx_run INDEX TIMEOUT_S AS_ROOT(0|1) PASS_EXIT NEEDS BASE64_SCRIPT
# PASS_EXIT is the exit code with which the check passes ("-": its verdict needs the host) and
# NEEDS the comma-separated indices of earlier checks of this batch it needs ("-": none); the
# host only sends a check with NEEDS when each needed check's verdict is its exit code alone,
# so the guest's "skip" is exactly the host's.
# For each check it prints one line:
#   @@vx-result INDEX EXIT_CODE DURATION_MS TIMED_OUT(0|1) BASE64_STDOUT BASE64_STDERR
# or, for a check not run because a check it needs did not pass:
#   @@vx-skipped INDEX NEEDED_INDEX
# Checks that do not need root run as the invoking user (SUDO_UID) through setpriv.
# Under TCG each process costs tens of milliseconds: time with $EPOCHREALTIME, not date.
set -u
vx_passed=()
vx_tmp=$(mktemp -d /tmp/vexfs-checks.XXXXXX)
trap 'rm -rf "$vx_tmp"' EXIT

# Checks run from / ; under sudo, the invoking user's home is looked up once, not per check.
cd /
vx_user_home=
if [ "$EUID" = 0 ] && [ -n "${SUDO_UID:-}" ]; then
  vx_user_home=$(getent passwd "$SUDO_UID" | cut -d: -f6)
  vx_user_home=${vx_user_home:-/}
fi

vx_as_user() {
  if [ -n "$vx_user_home" ]; then
    HOME="$vx_user_home" USER="${SUDO_USER:-}" LOGNAME="${SUDO_USER:-}" \
      setpriv --reuid="$SUDO_UID" --regid="$SUDO_GID" --init-groups -- "$@"
  else
    "$@"
  fi
}

vx_run() {
  local idx=$1 limit=$2 as_root=$3 pass_exit=$4 needs=$5 script rc start end timed_out=0 n ms
  if [ "$needs" != - ]; then
    for n in ${needs//,/ }; do
      if [ "${vx_passed[$n]:-0}" != 1 ]; then printf '@@vx-skipped %s %s\n' "$idx" "$n"; return; fi
    done
  fi
  script=$(printf '%s' "$6" | base64 -d)
  start=${EPOCHREALTIME/[.,]/}
  if [ "$as_root" = 1 ]; then
    timeout -k 2 "$limit" bash -c "$script" </dev/null >"$vx_tmp/out" 2>"$vx_tmp/err"
  else
    vx_as_user timeout -k 2 "$limit" bash -c "$script" </dev/null >"$vx_tmp/out" 2>"$vx_tmp/err"
  fi
  rc=$?
  end=${EPOCHREALTIME/[.,]/}
  ms=$(( (10#$end - 10#$start) / 1000 ))
  if { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && [ "$ms" -ge $(( limit * 1000 - 200 )) ]; then timed_out=1; fi
  if [ "$timed_out" = 0 ] && [ "$rc" = "$pass_exit" ]; then vx_passed[$idx]=1; fi
  local o='' e=''
  # Most checks print nothing on stderr: no processes for an empty file.
  if [ -s "$vx_tmp/out" ]; then o=$(head -c 65536 "$vx_tmp/out" | base64 -w0); fi
  if [ -s "$vx_tmp/err" ]; then e=$(head -c 16384 "$vx_tmp/err" | base64 -w0); fi
  # "-" stands for empty output, so the line always has seven fields.
  printf '@@vx-result %s %s %s %s %s %s\n' "$idx" "$rc" "$ms" "$timed_out" "${o:--}" "${e:--}"
}
