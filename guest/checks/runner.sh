#!/bin/bash
# Runs a batch of validation checks in the guest (vexfs-image validate, src/validate/guest-exec.ts).
# The host sends this file followed by one line per check on bash's stdin, run by `sudo -n bash -s`
# (or plain `bash -s` when no check of the batch needs root):
#   vx_run INDEX TIMEOUT_S AS_ROOT(0|1) BASE64_SCRIPT
# For each check it prints one line:
#   @@vx-result INDEX EXIT_CODE DURATION_MS TIMED_OUT(0|1) BASE64_STDOUT BASE64_STDERR
# Checks that do not need root run as the invoking user (SUDO_UID) through setpriv.
set -u
vx_tmp=$(mktemp -d /tmp/vexfs-checks.XXXXXX)
trap 'rm -rf "$vx_tmp"' EXIT

vx_as_user() {
  if [ "$(id -u)" = 0 ] && [ -n "${SUDO_UID:-}" ]; then
    local home
    home=$(getent passwd "$SUDO_UID" | cut -d: -f6)
    HOME="${home:-/}" USER="${SUDO_USER:-}" LOGNAME="${SUDO_USER:-}" \
      setpriv --reuid="$SUDO_UID" --regid="$SUDO_GID" --init-groups -- "$@"
  else
    "$@"
  fi
}

vx_run() {
  local idx=$1 limit=$2 as_root=$3 script rc start end timed_out=0
  script=$(printf '%s' "$4" | base64 -d)
  start=$(date +%s%N)
  if [ "$as_root" = 1 ]; then
    (cd / && timeout -k 2 "$limit" bash -c "$script") </dev/null >"$vx_tmp/out" 2>"$vx_tmp/err"
  else
    (cd / && vx_as_user timeout -k 2 "$limit" bash -c "$script") </dev/null >"$vx_tmp/out" 2>"$vx_tmp/err"
  fi
  rc=$?
  end=$(date +%s%N)
  if { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && [ $(( (end - start) / 1000000 )) -ge $(( limit * 1000 - 200 )) ]; then timed_out=1; fi
  local o e
  o=$(head -c 65536 "$vx_tmp/out" | base64 -w0)
  e=$(head -c 16384 "$vx_tmp/err" | base64 -w0)
  # "-" stands for empty output, so the line always has seven fields.
  printf '@@vx-result %s %s %s %s %s %s\n' "$idx" "$rc" $(( (end - start) / 1000000 )) "$timed_out" "${o:--}" "${e:--}"
}
