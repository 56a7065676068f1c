# shellcheck shell=bash
# check_file PATH [--absent] [--executable | --not-executable] [--contains TEXT]
#
# A `file` check (see docs/checks.md; src/validate/compile.ts emits the call): PATH exists, or
# with --absent does not (a dangling symlink counts as existing); it is an executable regular
# file (or not executable); it contains TEXT as a fixed string. Prints "FAIL: why" and returns 1,
# or prints one "OK: what was seen" line.
check_file() {
  local p=$1 absent=0 exe='' contains='' has_contains=0
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --absent) absent=1 ;;
      --executable) exe=1 ;;
      --not-executable) exe=0 ;;
      --contains) contains=${2-} has_contains=1; shift ;;
      *) echo "FAIL: check_file: unknown argument $1"; return 2 ;;
    esac
    shift
  done
  if [ "$absent" = 1 ]; then
    if [ -e "$p" ] || [ -L "$p" ]; then echo "FAIL: $p exists"; return 1; fi
    echo "OK: $p does not exist"
    return 0
  fi
  if [ ! -e "$p" ]; then echo "FAIL: $p does not exist"; return 1; fi
  if [ "$exe" = 1 ] && { [ ! -f "$p" ] || [ ! -x "$p" ]; }; then
    echo "FAIL: $p is not an executable file ($(stat -c '%A %U:%G' "$p"))"
    return 1
  fi
  if [ "$exe" = 0 ] && [ -x "$p" ]; then echo "FAIL: $p is executable"; return 1; fi
  if [ "$has_contains" = 1 ] && ! grep -qF -e "$contains" -- "$p"; then echo "FAIL: $p does not contain $contains"; return 1; fi
  echo "OK: $p ($(stat -c '%A %U:%G %s bytes' "$p"))"
}
