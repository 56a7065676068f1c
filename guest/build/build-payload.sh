#!/bin/bash
# Builds and installs the payload (by default VexFS: vexfs.ko and vexctl), as root.
# Usage: build-payload.sh all SOURCE_MOUNT VERSION SPEC          (the build VM: both halves)
#        build-payload.sh build SOURCE_MOUNT VERSION SPEC        (build only; SOURCE_MOUNT "-":
#                                   the tree is already at /usr/src/vexfs, synced by the host)
#        build-payload.sh install VERSION SPEC FOUND             (install only: an incremental
#                                   build's install VM, in the chroot of the previous image)
# SPEC is data, one tab-separated record a line (src/builder/payload-spec.ts writes it; no field
# is empty except a last one, since read collapses runs of tabs):
#   dir      DIR                      where the build runs, relative to the source root
#   command  CMD                      the build command (bash -c)
#   env      NAME VALUE               extra environment of the build
#   install  CMD                      optional: run with DESTDIR; its tree is copied into /
#   module   NAME GLOB INSTALL_DIR    a module: where it is after the build, where it goes under
#                                     /lib/modules/<kernel>/
#   tool     NAME GLOB PATH REQUIRED VERSION_CMD EXPECTED   a program (REQUIRED 1|0)
#   file     PATH                     a file cloud-init wrote (hashed for the manifest)
# FOUND: what the build half found, "KIND<TAB>NAME<TAB>PATH" a line (its result.found_N lines).
# The build half copies the read-only source to /usr/src/vexfs, builds, and finds each declared
# artifact; the install half checks each module's vermagic against the running kernel, installs,
# and smoke-tests (modprobe, lsmod, each tool's version, rmmod). The last lines are
# "result.<key>=<value>" for the host: the manifest's facts, or result.missing* when a declared
# artifact was not built (the host then stops with exit 2 naming them; this script exits 0 then,
# since only a successful script's output is read).
set -euo pipefail
mode="$1"
shift
case "$mode" in
  all | build) src="$1" version="$2" spec="$3" found_list='' ;;
  install) src='' version="$1" spec="$2" found_list="$3" ;;
  *) echo "build-payload.sh: unknown mode '$mode'" >&2; exit 1 ;;
esac
dest=/usr/src/vexfs
# The host's chroot build names the image's kernel (uname -r there is the host's).
kernel="${VEXFS_IMAGE_KERNEL:-$(uname -r)}"

dir=. build_cmd='' install_cmd=''
modules=() tools=() files=() envs=()
while IFS=$'\t' read -r kind a b c d e f; do
  case "$kind" in
    dir) dir="$a" ;;
    command) build_cmd="$a" ;;
    install) install_cmd="$a" ;;
    env) envs+=("$a=$b") ;;
    module) modules+=("$a"$'\t'"$b"$'\t'"$c") ;;
    tool) tools+=("$a"$'\t'"$b"$'\t'"$c"$'\t'"$d"$'\t'"$e"$'\t'"$f") ;;
    file) files+=("$a") ;;
    '') ;;
    *) echo "build-payload.sh: unknown spec record '$kind'" >&2; exit 1 ;;
  esac
done <<<"$spec"
declare -A found installed
staging=/tmp/vexfs-image-destdir

# The build half: copy (unless the host synced the tree), build, find every declared artifact.
build_half() {
  [ -n "$build_cmd" ] || { echo "build-payload.sh: the spec has no build command" >&2; exit 1; }
  if [ "$src" != - ]; then
    echo "==> copying source to $dest"
    rm -rf "$dest"
    mkdir -p "$dest"
    tar -C "$src" --exclude=.git --exclude=./target --exclude=./vexctl/target -cf - . | tar -C "$dest" -xf -
  fi

  workdir="$dest"
  [ "$dir" = . ] || workdir="$dest/$dir"
  echo "==> building in ${dir}: $build_cmd (VERSION=$version, kernel $kernel)"
  cd "$workdir"
  export VERSION="$version" VEXFS_VERSION="$version" KDIR="/lib/modules/$kernel/build" KERNEL_RELEASE="$kernel"
  # Debian's cargo: offline, no network needed for a std-only crate.
  export CARGO_HOME="${CARGO_HOME:-/root/.cargo}" CARGO_NET_OFFLINE=true
  # Parallel make (as debuild's parallel=N does): the module and vexctl are independent targets,
  # and under emulation each vCPU left idle costs about a minute. A MAKEFLAGS of the caller wins.
  export MAKEFLAGS="${MAKEFLAGS:--j$(nproc)}"
  for kv in "${envs[@]}"; do export "${kv?}"; done
  bash -c "$build_cmd"

  root="$workdir"
  if [ -n "$install_cmd" ]; then
    rm -rf "$staging" && mkdir -p "$staging"
    echo "==> installing: $install_cmd (DESTDIR=$staging)"
    DESTDIR="$staging" bash -c "$install_cmd"
    root="$staging"
  fi

  # first_match GLOB TEST: the first path under $root matching GLOB (globstar) that passes TEST.
  shopt -s globstar nullglob
  first_match() {
    local IFS= p
    # shellcheck disable=SC2206 # the glob is meant to expand; IFS= keeps it one word
    local hits=("$root"/$1)
    for p in "${hits[@]}"; do
      case "$p" in */.git/*) continue ;; esac
      if test "$2" "$p" && [ -f "$p" ]; then echo "$p"; return 0; fi
    done
    return 1
  }

  missing=()
  for m in "${modules[@]}"; do
    IFS=$'\t' read -r name glob _ <<<"$m"
    if p="$(first_match "$glob" -f)"; then found["module:$name"]="$p"; else missing+=("module $name ($glob)"); fi
  done
  for t in "${tools[@]}"; do
    IFS=$'\t' read -r name glob _ required _ <<<"$t"
    if p="$(first_match "$glob" -x)"; then found["tool:$name"]="$p"
    elif [ "$required" = 1 ]; then missing+=("tool $name ($glob)")
    else echo "note: optional tool $name ($glob) was not built; not installed"
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    list() { tr '\n' ' ' | sed 's/ $//'; }
    echo "result.missing=$(IFS=,; echo "${missing[*]}")"
    echo "result.looked_in=$root"
    echo "result.produced_ko=$(cd "$root" && find . -name '*.ko' -not -path './.git/*' -printf '%P\n' | sort | head -n 20 | list)"
    echo "result.produced_exe=$(cd "$root" && find . -type f -perm -u+x -not -path './.git/*' -not -path '*/deps/*' -not -path '*/build/*' -not -name '*.so' -not -name '*.sh' -not -name '*.d' -printf '%P\n' | sort | head -n 20 | list)"
    exit 0
  fi
}

if [ "$mode" = install ]; then
  while IFS=$'\t' read -r k name p; do [ -z "$k" ] || found["$k:$name"]="$p"; done <<<"$found_list"
else
  build_half
fi
if [ "$mode" = build ]; then
  n=0
  for k in "${!found[@]}"; do printf 'result.found_%d=%s\t%s\t%s\n' "$n" "${k%%:*}" "${k#*:}" "${found[$k]}"; n=$((n + 1)); done
  exit 0
fi

for m in "${modules[@]}"; do
  IFS=$'\t' read -r name _ _ <<<"$m"
  vermagic="$(modinfo -F vermagic "${found["module:$name"]}")"
  if [ "${vermagic%% *}" != "$kernel" ]; then
    echo "vermagic mismatch: $name.ko built for '${vermagic%% *}', image runs '$kernel'" >&2
    exit 1
  fi
done

echo "==> installing"
if [ -n "$install_cmd" ]; then
  # tar, not cp -a: /lib, /bin, /sbin are symlinks into /usr (merged /usr) and must stay so.
  tar -C "$staging" -cf - . | tar -C / -xf - --keep-directory-symlink --no-same-owner
  for k in "${!found[@]}"; do installed["$k"]="/${found[$k]#"$staging"/}"; done
  rm -rf "$staging"
else
  for m in "${modules[@]}"; do
    IFS=$'\t' read -r name _ idir <<<"$m"
    installed["module:$name"]="/lib/modules/$kernel/$idir/$name.ko"
    install -D -m 0644 "${found["module:$name"]}" "${installed["module:$name"]}"
  done
  for t in "${tools[@]}"; do
    IFS=$'\t' read -r name _ path _ <<<"$t"
    [ -n "${found["tool:$name"]:-}" ] || continue
    installed["tool:$name"]="$path"
    install -D -m 0755 "${found["tool:$name"]}" "$path"
  done
fi
depmod -a "$kernel"

echo "==> smoke test"
loaded=()
for m in "${modules[@]}"; do
  IFS=$'\t' read -r name _ _ <<<"$m"
  modprobe "$name"
  grep -q "^$name " /proc/modules || { echo "$name not listed by lsmod after modprobe" >&2; exit 1; }
  loaded=("$name" "${loaded[@]}")
done
for t in "${tools[@]}"; do
  IFS=$'\t' read -r name _ _ _ vcmd expect <<<"$t"
  if [ -z "$vcmd" ] || [ -z "${installed["tool:$name"]:-}" ]; then continue; fi
  got="$(bash -c "$vcmd")"
  [ "$got" = "$expect" ] || { echo "$vcmd printed '$got', expected '$expect'" >&2; exit 1; }
done
for name in "${loaded[@]}"; do rmmod "$name"; done

# Facts for the manifest: the first module (and vexctl) as before, then every artifact.
first="${modules[0]%%$'\t'*}"
first_ko="${installed["module:$first"]}"
echo "result.kernel=$kernel"
echo "result.vermagic=$(modinfo -F vermagic "$first_ko")"
echo "result.module_sha256=$(sha256sum "$first_ko" | cut -d' ' -f1)"
echo "result.module_version=$(modinfo -F version "$first_ko")"
[ -z "${installed["tool:vexctl"]:-}" ] || echo "result.vexctl_sha256=$(sha256sum "${installed["tool:vexctl"]}" | cut -d' ' -f1)"
n=0
artifact() { # KIND NAME PATH
  local size sum vm=
  size=$(stat -c %s "$3") sum=$(sha256sum "$3" | cut -d' ' -f1)
  [ "$1" != module ] || vm=$(modinfo -F vermagic "$3")
  printf 'result.artifact_%d=%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$1" "$2" "$3" "$size" "$sum" "$vm"
  n=$((n + 1))
}
for m in "${modules[@]}"; do name="${m%%$'\t'*}"; artifact module "$name" "${installed["module:$name"]}"; done
for t in "${tools[@]}"; do name="${t%%$'\t'*}"; [ -z "${installed["tool:$name"]:-}" ] || artifact tool "$name" "${installed["tool:$name"]}"; done
for p in "${files[@]}"; do [ ! -f "$p" ] || artifact file "$(basename "$p")" "$p"; done
