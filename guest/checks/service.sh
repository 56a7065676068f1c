# shellcheck shell=bash
# check_service UNIT [--enabled | --disabled] [--active | --inactive]
#
# A `service` check (docs/checks.md). One systemctl per expectation (each is an exec of ~0.2 s
# under TCG): `is-enabled` says "not-found" for a missing unit itself; `show` gives LoadState and
# the live ActiveState, judged as `systemctl is-active` would (active, reloading and refreshing
# count as active). Prints "FAIL: why" lines and returns 1, or one "OK: UNIT: STATES" line.
check_service() {
  local u=$1 enabled='' active='' fail=0 en='' en_rc act='' act_ok load='' k v
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --enabled) enabled=1 ;;
      --disabled) enabled=0 ;;
      --active) active=1 ;;
      --inactive) active=0 ;;
      *) echo "FAIL: check_service: unknown argument $1"; return 2 ;;
    esac
    shift
  done
  if [ -n "$enabled" ]; then
    en=$(systemctl is-enabled "$u" 2>&1); en_rc=$?
    case $en in not-found|*"No such file"*|*"not found"*) echo "FAIL: $u not found"; return 1 ;; esac
    if [ "$enabled" = 1 ]; then
      if [ "$en_rc" -ne 0 ]; then echo "FAIL: $u is $en (expected enabled)"; fail=1; fi
    elif [ "$en_rc" -eq 0 ]; then
      echo "FAIL: $u is $en (expected disabled)"; fail=1
    fi
  fi
  if [ -n "$active" ]; then
    while IFS='=' read -r k v; do
      case $k in LoadState) load=$v ;; ActiveState) act=$v ;; esac
    done < <(systemctl show -p LoadState -p ActiveState "$u" 2>/dev/null)
    if [ "$load" = not-found ] || [ -z "$load" ]; then echo "FAIL: $u not found"; return 1; fi
    case $act in active|reloading|refreshing) act_ok=1 ;; *) act_ok=0 ;; esac
    if [ "$active" = 1 ]; then
      # The unit's last journal lines say why it is not running (only on failure: two processes).
      if [ "$act_ok" -eq 0 ]; then
        echo "FAIL: $u is $act (expected active)$(journalctl -u "$u" -b -n 3 --no-pager -o cat 2>/dev/null | sed 's/^/ | /' | tr -d '\n')"
        fail=1
      fi
    elif [ "$act_ok" -eq 1 ]; then
      echo "FAIL: $u is $act (expected inactive)"; fail=1
    fi
  fi
  [ "$fail" -eq 0 ] || return 1
  echo "OK: $u:${en:+ $en}${act:+ $act}"
}
