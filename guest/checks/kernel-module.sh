# shellcheck shell=bash
# check_kernel_module MODULE [--load | --unload] [--available | --unavailable] [--loaded | --not-loaded]
#
# A `kernel-module` check (docs/checks.md), in this order: the action (modprobe; rmmod when it is
# loaded), then `modinfo` and the module file, then /proc/modules. The host resolves the
# defaults (--load implies --loaded unless told otherwise, and so on). Prints "FAIL: why" and
# returns 1, or one "OK: MODULE what was seen" line.

# Loaded = listed in /proc/modules, which is what lsmod prints (read here without a process).
_check_module_loaded() {
  local n _
  while read -r n _; do [ "$n" = "$1" ] && return 0; done < /proc/modules
  return 1
}

check_kernel_module() {
  local m=$1 action='' available='' loaded='' out info info_rc file='' why='' l refcnt version s='' i
  local -a what=()
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --load) action=load ;;
      --unload) action=unload ;;
      --available) available=1 ;;
      --unavailable) available=0 ;;
      --loaded) loaded=1 ;;
      --not-loaded) loaded=0 ;;
      *) echo "FAIL: check_kernel_module: unknown argument $1"; return 2 ;;
    esac
    shift
  done
  if [ "$action" = load ]; then
    out=$(modprobe "$m" 2>&1) || { echo "FAIL: modprobe $m failed: $out"; return 1; }
    what+=("loaded with modprobe")
  elif [ "$action" = unload ]; then
    if _check_module_loaded "$m"; then
      out=$(rmmod "$m" 2>&1) || { echo "FAIL: rmmod $m failed: $out"; return 1; }
    fi
    what+=("unloaded with rmmod")
  fi
  if [ -n "$available" ]; then
    # Plain `modinfo` reads the module file (-F filename alone only consults the index, which
    # still names a deleted file); check the file too. Its output is parsed by bash itself.
    info=$(modinfo "$m" 2>&1); info_rc=$?
    while IFS= read -r l; do
      case $l in filename:*) [ -n "$file" ] || { file=${l#filename:}; file=${file#"${file%%[![:space:]]*}"}; } ;; esac
      case ${l,,} in *error*) [ -n "$why" ] || why=$l ;; esac
    done <<< "$info"
    why=${why:-${info##*$'\n'}}
    if [ -n "$file" ] && [ "$file" != "(builtin)" ] && [ ! -e "$file" ]; then info_rc=1; why="module file $file does not exist"; fi
    if [ "$available" = 1 ]; then
      if [ "$info_rc" -ne 0 ]; then echo "FAIL: modinfo $m: $why"; return 1; fi
      what+=("$file")
    elif [ "$info_rc" -eq 0 ]; then
      echo "FAIL: module $m is available ($file)"; return 1
    fi
  fi
  if [ "$loaded" = 1 ]; then
    if ! _check_module_loaded "$m"; then echo "FAIL: $m is not listed by lsmod"; return 1; fi
    read -r refcnt < "/sys/module/$m/refcnt" 2>/dev/null || refcnt='?'
    read -r version < "/sys/module/$m/version" 2>/dev/null || version='?'
    what+=("listed by lsmod (refcount $refcnt, version $version)")
  elif [ "$loaded" = 0 ]; then
    if _check_module_loaded "$m"; then echo "FAIL: $m is still listed by lsmod"; return 1; fi
    what+=("not loaded")
  fi
  for i in "${!what[@]}"; do
    if [ "$i" -gt 0 ]; then s+=', '; fi
    s+=${what[i]}
  done
  echo "OK: $m $s"
}
