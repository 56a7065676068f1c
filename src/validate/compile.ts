// Turns a check definition (data) into the bash script that runs in the guest and the function
// that judges its result. Pure: unit-tested without a VM (and partly by running the scripts
// locally). Scripts of the non-command types print "FAIL: why" lines and exit non-zero on
// failure, and one "OK: what was seen" line on success.
import { UsageError } from '../errors.js';
import type { CheckDef } from '../config/schema.js';
import { shellQuote } from '../tools/ssh.js';

export interface CheckVars {
  version: string;
  variant: string;
  name: string;
  /** /proc/sys/kernel/tainted when the checks started (for kernel-log checks). */
  taint_baseline?: string;
}

export interface GuestOutput {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export interface Verdict {
  ok: boolean;
  message: string;
}

export interface CompiledCheck {
  def: CheckDef;
  script: string;
  evaluate(out: GuestOutput): Verdict;
  /**
   * The exit code with which the check passes when that alone decides its verdict (not for
   * command checks with output expectations): then the guest can tell whether it passed, and
   * checks that need it can go in the same batch (engine.ts).
   */
  passExit?: number;
}

/** Kernel taint flags by bit number (Documentation/admin-guide/tainted-kernels.rst). */
export const TAINT_LETTERS = 'PFSRMBUDAWCIOELKXTN';

export function taintMask(letters: readonly string[]): number {
  let mask = 0;
  for (const l of letters) {
    const bit = TAINT_LETTERS.indexOf(l);
    if (bit < 0) throw new UsageError(`unknown taint flag ${JSON.stringify(l)}: one of ${TAINT_LETTERS.split('').join(' ')}`);
    mask |= 1 << bit;
  }
  return mask;
}

export function taintLetters(value: number): string {
  let s = '';
  for (let bit = 0; bit < TAINT_LETTERS.length; bit++) if ((value >> bit) & 1) s += TAINT_LETTERS[bit];
  return s;
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

const VAR_RE = /\{\{\s*([a-z_]+)\s*\}\}/g;

/** Replaces {{version}}, {{variant}}, {{name}}; `escape` is applied to each value (regex fields). */
export function substitute(text: string, vars: CheckVars, escape: (s: string) => string = (s) => s): string {
  return text.replace(VAR_RE, (_m, key: string) => {
    const v = (vars as unknown as Record<string, string | undefined>)[key];
    if (v === undefined) throw new UsageError(`unknown template variable {{${key}}} in ${JSON.stringify(text)}: use {{version}}, {{variant}} or {{name}}`);
    return escape(v);
  });
}

function lines(s: string): string[] {
  return s
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '');
}

function clip(s: string, n = 200): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

/** Generic judgement for scripts that follow the FAIL:/OK: convention. */
export function judgeScript(out: GuestOutput): Verdict {
  const all = [...lines(out.stdout), ...lines(out.stderr)];
  if (out.exitCode === 0) {
    const ok = all.find((l) => l.startsWith('OK: '));
    return { ok: true, message: clip(ok ? ok.slice(4) : (all[0] ?? 'ok')) };
  }
  const fails = all.filter((l) => l.startsWith('FAIL: ')).map((l) => l.slice(6));
  const why = fails.length ? fails.join('; ') : (all.at(-1) ?? `exit code ${out.exitCode}`);
  return { ok: false, message: clip(why, 400) };
}

function compileCommand(def: Extract<CheckDef, { type: 'command' }>, vars: CheckVars): CompiledCheck {
  const script = substitute(def.command, vars);
  const e = def.expect;
  const contains = e.stdout_contains !== undefined ? substitute(e.stdout_contains, vars) : undefined;
  const matches = e.stdout_matches !== undefined ? new RegExp(substitute(e.stdout_matches, vars, escapeRegExp), 'm') : undefined;
  const notMatches = e.stdout_not_matches !== undefined ? new RegExp(substitute(e.stdout_not_matches, vars, escapeRegExp), 'm') : undefined;
  const exitDecides =
    contains === undefined && !matches && !notMatches && e.stdout_empty === undefined;
  return {
    def,
    script,
    ...(exitDecides ? { passExit: e.exit_code } : {}),
    evaluate(out) {
      const stdout = out.stdout.replace(/\r/g, '');
      const first = lines(stdout)[0] ?? '';
      const errTail = lines(out.stderr).at(-1) ?? lines(stdout).at(-1) ?? '';
      if (out.exitCode !== e.exit_code) {
        return { ok: false, message: clip(`exit code ${out.exitCode}, expected ${e.exit_code}${errTail ? `: ${errTail}` : ''}`, 400) };
      }
      if (contains !== undefined && !stdout.includes(contains)) {
        return { ok: false, message: clip(`output does not contain ${JSON.stringify(contains)}: got ${JSON.stringify(clip(stdout, 120))}`, 400) };
      }
      if (matches && !matches.test(stdout)) {
        return { ok: false, message: clip(`output does not match /${matches.source}/: got ${JSON.stringify(clip(stdout, 120))}`, 400) };
      }
      if (notMatches) {
        const hit = lines(stdout).find((l) => notMatches.test(l));
        if (hit !== undefined) return { ok: false, message: clip(`output matches /${notMatches.source}/: ${hit}`, 400) };
      }
      if (e.stdout_empty === true && stdout.trim() !== '') {
        return { ok: false, message: clip(`expected no output, got: ${lines(stdout).slice(0, 5).join(' | ')}`, 400) };
      }
      if (e.stdout_empty === false && stdout.trim() === '') return { ok: false, message: 'expected output, got none' };
      // On success show the line the expectation matched, else the first line of output.
      const shown = matches ? (lines(stdout).find((l) => matches.test(l)) ?? first) : first;
      return { ok: true, message: clip(shown || `exit code ${out.exitCode}`) };
    },
  };
}

function compileFile(def: Extract<CheckDef, { type: 'file' }>, vars: CheckVars): string {
  const p = shellQuote(substitute(def.path, vars));
  const e = def.expect;
  if (!e.exists) {
    return `p=${p}\nif [ -e "$p" ] || [ -L "$p" ]; then echo "FAIL: $p exists"; exit 1; fi\necho "OK: $p does not exist"\n`;
  }
  const s = [`p=${p}`, `if [ ! -e "$p" ]; then echo "FAIL: $p does not exist"; exit 1; fi`];
  if (e.executable === true) s.push(`if [ ! -f "$p" ] || [ ! -x "$p" ]; then echo "FAIL: $p is not an executable file ($(stat -c '%A %U:%G' "$p"))"; exit 1; fi`);
  if (e.executable === false) s.push(`if [ -x "$p" ]; then echo "FAIL: $p is executable"; exit 1; fi`);
  if (e.contains !== undefined) {
    const c = shellQuote(substitute(e.contains, vars));
    s.push(`if ! grep -qF -e ${c} -- "$p"; then echo "FAIL: $p does not contain "${c}; exit 1; fi`);
  }
  s.push(`echo "OK: $p ($(stat -c '%A %U:%G %s bytes' "$p"))"`);
  return s.join('\n') + '\n';
}

function compileService(def: Extract<CheckDef, { type: 'service' }>, vars: CheckVars): string {
  const u = shellQuote(substitute(def.unit, vars));
  const { enabled, active } = def.expect;
  // One systemctl per expectation (each is an exec of ~0.2 s under TCG): is-enabled says
  // "not-found" for a missing unit itself; `show` gives LoadState and the live ActiveState.
  const s = [`u=${u}`, 'fail=0'];
  if (enabled !== undefined) {
    s.push(
      `en=$(systemctl is-enabled "$u" 2>&1); en_rc=$?`,
      `case $en in not-found|*"No such file"*|*"not found"*) echo "FAIL: $u not found"; exit 1 ;; esac`,
      enabled
        ? `if [ $en_rc -ne 0 ]; then echo "FAIL: $u is $en (expected enabled)"; fail=1; fi`
        : `if [ $en_rc -eq 0 ]; then echo "FAIL: $u is $en (expected disabled)"; fail=1; fi`,
    );
  }
  if (active !== undefined) {
    s.push(
      `load= act=; while IFS== read -r k v; do case $k in LoadState) load=$v ;; ActiveState) act=$v ;; esac; done < <(systemctl show -p LoadState -p ActiveState "$u" 2>/dev/null)`,
      `if [ "$load" = not-found ] || [ -z "$load" ]; then echo "FAIL: $u not found"; exit 1; fi`,
      // As systemctl is-active: active, reloading and refreshing count as active.
      `case $act in active|reloading|refreshing) act_ok=1 ;; *) act_ok=0 ;; esac`,
      active
        ? `if [ $act_ok -eq 0 ]; then echo "FAIL: $u is $act (expected active)$(journalctl -u "$u" -b -n 3 --no-pager -o cat 2>/dev/null | sed 's/^/ | /' | tr -d '\\n')"; fail=1; fi`
        : `if [ $act_ok -eq 1 ]; then echo "FAIL: $u is $act (expected inactive)"; fail=1; fi`,
    );
  }
  s.push('[ $fail -eq 0 ] || exit 1', `echo "OK: $u:\${en:+ $en}\${act:+ $act}"`);
  return s.join('\n') + '\n';
}

function compileKernelModule(def: Extract<CheckDef, { type: 'kernel-module' }>): string {
  const m = shellQuote(def.module);
  // Loaded = listed in /proc/modules, which is what lsmod prints (read here without a process).
  const s = [`m=${m}`, `is_loaded() { local n rest; while read -r n rest; do [ "$n" = "$m" ] && return 0; done < /proc/modules; return 1; }`];
  let loaded = def.expect.loaded;
  let available = def.expect.available;
  if (def.action === 'load') {
    loaded ??= true;
    s.push(`out=$(modprobe "$m" 2>&1) || { echo "FAIL: modprobe $m failed: $out"; exit 1; }`);
  } else if (def.action === 'unload') {
    loaded ??= false;
    s.push(`if is_loaded; then out=$(rmmod "$m" 2>&1) || { echo "FAIL: rmmod $m failed: $out"; exit 1; }; fi`);
  } else if (loaded === undefined && available === undefined) {
    available = true;
  }
  if (available !== undefined) {
    // Plain `modinfo` reads the module file (-F filename alone only consults the index, which
    // still names a deleted file); check the file too. Its output is parsed by bash itself.
    s.push(
      `info=$(modinfo "$m" 2>&1); info_rc=$?`,
      `file= why=`,
      `while IFS= read -r l; do`,
      `  case $l in filename:*) [ -n "$file" ] || { file=\${l#filename:}; file=\${file#"\${file%%[![:space:]]*}"}; } ;; esac`,
      `  case \${l,,} in *error*) [ -n "$why" ] || why=$l ;; esac`,
      `done <<< "$info"`,
      `why=\${why:-\${info##*$'\\n'}}`,
      `if [ -n "$file" ] && [ "$file" != "(builtin)" ] && [ ! -e "$file" ]; then info_rc=1; why="module file $file does not exist"; fi`,
      available
        ? `if [ $info_rc -ne 0 ]; then echo "FAIL: modinfo $m: $why"; exit 1; fi`
        : `if [ $info_rc -eq 0 ]; then echo "FAIL: module $m is available ($file)"; exit 1; fi`,
    );
  }
  if (loaded === true) {
    s.push(
      `if ! is_loaded; then echo "FAIL: $m is not listed by lsmod"; exit 1; fi`,
      `read -r refcnt < /sys/module/$m/refcnt 2>/dev/null || refcnt=?`,
      `read -r version < /sys/module/$m/version 2>/dev/null || version=?`,
    );
  }
  if (loaded === false) s.push(`if is_loaded; then echo "FAIL: $m is still listed by lsmod"; exit 1; fi`);
  const what = [
    def.action === 'load' ? 'loaded with modprobe' : def.action === 'unload' ? 'unloaded with rmmod' : '',
    available === true ? '$file' : '',
    loaded === true ? 'listed by lsmod (refcount $refcnt, version $version)' : '',
    loaded === false ? 'not loaded' : '',
  ].filter(Boolean);
  s.push(`echo "OK: $m ${what.join(', ')}"`);
  return s.join('\n') + '\n';
}

function compileMount(def: Extract<CheckDef, { type: 'mount' }>, vars: CheckVars): string {
  const target = def.target !== undefined ? shellQuote(substitute(def.target, vars)) : '';
  const opts = def.options !== undefined ? shellQuote(substitute(def.options, vars)) : "''";
  // About a dozen processes (each ~0.1 s under TCG): the mount table is read from /proc/mounts
  // by bash, the data compared with cmp, the work files share one temporary directory.
  return `fstype=${shellQuote(def.fstype)}
src=${shellQuote(substitute(def.source, vars))}
opts=${opts}
w=$(mktemp -d /tmp/vexfs-check.XXXXXX) || { echo "FAIL: mktemp failed"; exit 1; }
t=${target || '$w/mnt'}
data=$w/data
made=0
# Sets got to the type of the topmost file system mounted on $t (empty: none), as findmnt would.
mounted_as() {
  local dev mp fs rest
  got=
  while read -r dev mp fs rest; do
    # /proc/mounts writes space, tab, newline and backslash as octal escapes.
    case $mp in *\\\\*) printf -v mp '%b' "$mp" ;; esac
    [ "$mp" = "$t" ] && got=$fs
  done < /proc/mounts
}
cleanup() {
  mounted_as
  if [ -n "$got" ]; then umount "$t" 2>/dev/null; fi
  rm -f "$data" "$w/err"
  ${target ? '[ "$made" = 1 ] && rmdir "$t" 2>/dev/null; rmdir "$w" 2>/dev/null' : 'rmdir "$t" "$w" 2>/dev/null'}
  return 0
}
trap cleanup EXIT
if [ ! -d "$t" ]; then mkdir -p "$t" && made=1; fi
if ! out=$(mount -t "$fstype" \${opts:+-o "$opts"} "$src" "$t" 2>&1); then echo "FAIL: mount -t $fstype $src $t failed: $out"; exit 1; fi
mounted_as
if [ "$got" != "$fstype" ]; then echo "FAIL: $t is mounted as '$got', expected $fstype"; exit 1; fi
head -c 1048576 /dev/urandom > "$data"
if ! cp "$data" "$t/vexfs-check.bin" 2>"$w/err"; then echo "FAIL: writing to $t failed: $(< "$w/err")"; exit 1; fi
sync
mkdir "$t/dir" && echo "hello vexfs" > "$t/dir/hello.txt" || { echo "FAIL: could not create a directory and file on $t"; exit 1; }
if ! cmp -s "$data" "$t/vexfs-check.bin"; then echo "FAIL: read back different data from $t/vexfs-check.bin than was written"; exit 1; fi
hello=; read -r hello < "$t/dir/hello.txt"
if [ "$hello" != "hello vexfs" ]; then echo "FAIL: read back wrong text from $t/dir/hello.txt"; exit 1; fi
rm -rf "$t/vexfs-check.bin" "$t/dir" || { echo "FAIL: could not delete files on $t"; exit 1; }
if ! out=$(umount "$t" 2>&1); then echo "FAIL: umount $t failed: $out"; exit 1; fi
mounted_as
if [ -n "$got" ]; then echo "FAIL: $t still mounted after umount"; exit 1; fi
echo "OK: mounted $fstype on $t, wrote and read back 1048576 bytes (identical), unmounted"
`;
}

function compileSysctl(def: Extract<CheckDef, { type: 'sysctl' }>, vars: CheckVars): string {
  // Each value is read from /proc/sys by bash (a dot in the key is a directory, a slash a dot,
  // as sysctl has it); `sysctl -n` runs only to explain a key that cannot be read.
  const s = [
    'fail=0; n=0',
    `chk() {
  local k=$1 f got vals
  n=$((n + 1))
  k=\${k//./$'\\x01'}; k=\${k//\\//.}; f=/proc/sys/\${k//$'\\x01'/\\/}
  if [ -f "$f" ] && read -r -a vals < "$f" 2>/dev/null; then got="\${vals[*]}"
  else got=$(sysctl -n "$1" 2>&1); echo "FAIL: $1: $got"; fail=1; return; fi
  if [ "$got" != "$2" ]; then echo "FAIL: $1 = $got (expected $2)"; fail=1; fi
}`,
  ];
  for (const [k, v] of Object.entries(def.values)) s.push(`chk ${shellQuote(k)} ${shellQuote(substitute(v, vars).replace(/\s+/g, ' ').trim())}`);
  s.push('[ $fail -eq 0 ] || exit 1', 'echo "OK: $n value(s) as expected"');
  return s.join('\n') + '\n';
}

function compileKernelLog(def: Extract<CheckDef, { type: 'kernel-log' }>, vars: CheckVars): string {
  const mask = taintMask(def.allow_taint);
  const baseline = vars.taint_baseline !== undefined && /^\d+$/.test(vars.taint_baseline) ? vars.taint_baseline : '';
  const pattern = def.forbid.map((p) => `(${p})`).join('|');
  return `letters=${TAINT_LETTERS}
names() { local v=$1 s= i; for ((i = 0; i < \${#letters}; i++)); do if (( (v >> i) & 1 )); then s+=\${letters:i:1}; fi; done; echo "\${s:-none}"; }
fail=0
read -r now < /proc/sys/kernel/tainted
base=${baseline || '$now'}
gained=$(( now & ~base ))
bad=$(( gained & ~${mask} ))
if (( bad != 0 )); then echo "FAIL: kernel taint gained $(names $bad) while the checks ran (before: $(names $base), now: $(names $now))"; fail=1; fi
hits=$(dmesg 2>/dev/null | grep -m 5 -E -e ${shellQuote(pattern)})
if [ -n "$hits" ]; then echo "FAIL: kernel log: $(echo "$hits" | head -n 3 | tr '\\n' ' ')"; fail=1; fi
[ $fail -eq 0 ] || exit 1
echo "OK: no ${def.forbid.join(', ')} in the kernel log; taint $(names $now)${baseline ? ' (gained: $(names $gained))' : ' (no baseline)'}"
`;
}

/** Compiles one check for one image. Throws UsageError for bad templates or regular expressions. */
export function compileCheck(def: CheckDef, vars: CheckVars): CompiledCheck {
  try {
    switch (def.type) {
      case 'command':
        return compileCommand(def, vars);
      case 'file':
        return withScript(def, compileFile(def, vars));
      case 'service':
        return withScript(def, compileService(def, vars));
      case 'kernel-module':
        return withScript(def, compileKernelModule(def));
      case 'mount':
        return withScript(def, compileMount(def, vars));
      case 'sysctl':
        return withScript(def, compileSysctl(def, vars));
      case 'kernel-log':
        return withScript(def, compileKernelLog(def, vars));
    }
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`check ${def.id}: ${e.message}`, { hint: e.hint });
    if (e instanceof SyntaxError) throw new UsageError(`check ${def.id}: bad regular expression: ${e.message}`);
    throw e;
  }
}

function withScript(def: CheckDef, script: string): CompiledCheck {
  return { def, script, evaluate: judgeScript, passExit: 0 };
}
