# shellcheck shell=bash
# check_mount FSTYPE SOURCE [--target DIR] [--options OPTS]
#
# A `mount` check (docs/checks.md): mounts SOURCE as FSTYPE on DIR (default: a new temporary
# directory), writes 1 MiB and a file in a directory, reads both back and compares, deletes them
# and unmounts. About a dozen processes (each ~0.1 s under TCG): the mount table is read from
# /proc/mounts by bash, the data compared with cmp, the work files share one temporary directory.
# Prints "FAIL: why" and returns 1, or one "OK:" line; leaves nothing mounted or behind either way.

# The state the cleanup needs is global: after a timeout's TERM the EXIT trap runs it, and by
# then check_mount's locals are gone.
_check_mount_dir='' _check_mount_target='' _check_mount_made=0 _check_mount_got=''

# Sets _check_mount_got to the type of the topmost file system mounted on $1 (empty: none), as
# findmnt would.
_check_mount_type() {
  local mp fs _
  _check_mount_got=''
  while read -r _ mp fs _; do
    # /proc/mounts writes space, tab, newline and backslash as octal escapes.
    case $mp in *\\*) printf -v mp '%b' "$mp" ;; esac
    [ "$mp" = "$1" ] && _check_mount_got=$fs
  done < /proc/mounts
}

_check_mount_cleanup() {
  local w=$_check_mount_dir t=$_check_mount_target
  [ -n "$w" ] || return 0
  _check_mount_type "$t"
  if [ -n "$_check_mount_got" ]; then umount "$t" 2>/dev/null; fi
  rm -f "$w/data" "$w/err"
  # One rmdir (a process) for both directories.
  if [ "$_check_mount_made" = 1 ]; then rmdir "$t" "$w" 2>/dev/null; else rmdir "$w" 2>/dev/null; fi
  _check_mount_dir=''
  return 0
}

_check_mount_run() {
  local fstype=$1 src=$2 opts='' target='' has_target=0 t w data out hello
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --target) target=${2-} has_target=1; shift ;;
      --options) opts=${2-}; shift ;;
      *) echo "FAIL: check_mount: unknown argument $1"; return 2 ;;
    esac
    shift
  done
  w=$(mktemp -d /tmp/vexfs-check.XXXXXX) || { echo "FAIL: mktemp failed"; return 1; }
  if [ "$has_target" = 1 ]; then t=$target; else t=$w/mnt; fi
  data=$w/data
  _check_mount_dir=$w _check_mount_target=$t _check_mount_made=0
  trap _check_mount_cleanup EXIT
  if [ ! -d "$t" ]; then mkdir -p "$t" && _check_mount_made=1; fi
  if ! out=$(mount -t "$fstype" ${opts:+-o "$opts"} "$src" "$t" 2>&1); then echo "FAIL: mount -t $fstype $src $t failed: $out"; return 1; fi
  _check_mount_type "$t"
  if [ "$_check_mount_got" != "$fstype" ]; then echo "FAIL: $t is mounted as '$_check_mount_got', expected $fstype"; return 1; fi
  head -c 1048576 /dev/urandom > "$data"
  if ! cp "$data" "$t/vexfs-check.bin" 2>"$w/err"; then echo "FAIL: writing to $t failed: $(< "$w/err")"; return 1; fi
  sync
  if ! { mkdir "$t/dir" && echo "hello vexfs" > "$t/dir/hello.txt"; }; then echo "FAIL: could not create a directory and file on $t"; return 1; fi
  if ! cmp -s "$data" "$t/vexfs-check.bin"; then echo "FAIL: read back different data from $t/vexfs-check.bin than was written"; return 1; fi
  hello=''; read -r hello < "$t/dir/hello.txt"
  if [ "$hello" != "hello vexfs" ]; then echo "FAIL: read back wrong text from $t/dir/hello.txt"; return 1; fi
  rm -rf "$t/vexfs-check.bin" "$t/dir" || { echo "FAIL: could not delete files on $t"; return 1; }
  if ! out=$(umount "$t" 2>&1); then echo "FAIL: umount $t failed: $out"; return 1; fi
  _check_mount_type "$t"
  if [ -n "$_check_mount_got" ]; then echo "FAIL: $t still mounted after umount"; return 1; fi
  echo "OK: mounted $fstype on $t, wrote and read back 1048576 bytes (identical), unmounted"
}

check_mount() {
  local rc
  _check_mount_run "$@"
  rc=$?
  # Cleans up on return too, so that a shell calling it goes on with nothing left behind.
  _check_mount_cleanup
  trap - EXIT
  return "$rc"
}
