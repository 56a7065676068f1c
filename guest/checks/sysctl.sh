# shellcheck shell=bash
# check_sysctl KEY VALUE [KEY VALUE]...
#
# A `sysctl` check (docs/checks.md): every KEY has VALUE (words separated by one space, as the
# host normalises it). Each value is read from /proc/sys by bash (a dot in the key is a
# directory, a slash a dot, as sysctl has it); `sysctl -n` runs only to explain a key that
# cannot be read. Prints a "FAIL: why" line per mismatch and returns 1, or one "OK:" line.
check_sysctl() {
  local fail=0 n=0 k f got vals
  while [ $# -ge 2 ]; do
    n=$((n + 1))
    k=${1//./$'\x01'}; k=${k//\//.}; f=/proc/sys/${k//$'\x01'/\/}
    if [ -f "$f" ] && read -r -a vals < "$f" 2>/dev/null; then
      got="${vals[*]}"
      if [ "$got" != "$2" ]; then echo "FAIL: $1 = $got (expected $2)"; fail=1; fi
    else
      got=$(sysctl -n "$1" 2>&1)
      echo "FAIL: $1: $got"; fail=1
    fi
    shift 2
  done
  if [ $# -ne 0 ]; then echo "FAIL: check_sysctl: no value for $1"; return 2; fi
  [ "$fail" -eq 0 ] || return 1
  echo "OK: $n value(s) as expected"
}
