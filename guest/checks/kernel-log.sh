# shellcheck shell=bash
# check_kernel_log [--allow-mask MASK] [--baseline TAINT] [--] PATTERN...
#
# A `kernel-log` check (docs/checks.md): no line of dmesg matches any PATTERN (extended regular
# expressions), and /proc/sys/kernel/tainted gained no flag outside MASK (the allowed flags' bits,
# computed by the host) since TAINT, the value the host read before the checks (without it, no
# flag counts as gained). Prints "FAIL: why" lines and returns 1, or one "OK:" line.

# Sets the variable named $1 to the letters of the taint flags in $2 ("none" for none): bit n
# is letter n of the kernel's list (Documentation/admin-guide/tainted-kernels.rst), the same list
# as TAINT_LETTERS in src/validate/compile.ts (a unit test keeps the two equal). A variable, not
# output: $(...) would fork.
_check_taint_names() {
  local letters=PFSRMBUDAWCIOELKXTN s='' i
  for ((i = 0; i < ${#letters}; i++)); do
    if (( ($2 >> i) & 1 )); then s+=${letters:i:1}; fi
  done
  printf -v "$1" '%s' "${s:-none}"
}

check_kernel_log() {
  local mask=0 base='' now pattern='' forbid='' i=0 p gained bad hits fail=0 n_bad n_base n_now n_gained
  while [ $# -gt 0 ]; do
    case $1 in
      --allow-mask) mask=$2; shift ;;
      --baseline) base=$2; shift ;;
      --) shift; break ;;
      *) break ;;
    esac
    shift
  done
  for p in "$@"; do
    if [ "$i" -gt 0 ]; then pattern+='|' forbid+=', '; fi
    pattern+="($p)" forbid+=$p i=$((i + 1))
  done
  read -r now < /proc/sys/kernel/tainted
  gained=$(( now & ~${base:-$now} ))
  bad=$(( gained & ~mask ))
  if (( bad != 0 )); then
    _check_taint_names n_bad "$bad"; _check_taint_names n_base "${base:-$now}"; _check_taint_names n_now "$now"
    echo "FAIL: kernel taint gained $n_bad while the checks ran (before: $n_base, now: $n_now)"
    fail=1
  fi
  hits=$(dmesg 2>/dev/null | grep -m 5 -E -e "$pattern")
  if [ -n "$hits" ]; then echo "FAIL: kernel log: $(echo "$hits" | head -n 3 | tr '\n' ' ')"; fail=1; fi
  [ "$fail" -eq 0 ] || return 1
  _check_taint_names n_now "$now"
  if [ -n "$base" ]; then
    _check_taint_names n_gained "$gained"
    echo "OK: no $forbid in the kernel log; taint $n_now (gained: $n_gained)"
  else
    echo "OK: no $forbid in the kernel log; taint $n_now (no baseline)"
  fi
}
