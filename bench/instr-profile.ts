/**
 * Reading what callgrind wrote, for bench/instr.ts: the total instructions of a dump, and per function
 * the self and inclusive instructions, with V8's JIT code named from node's `--perf-basic-prof` map.
 * Pure functions over text; nothing here runs valgrind.
 */

/** One entry of a perf map (`perf-<pid>.map` in the temporary directory): `start size name`, hexadecimal. */
interface PerfEntry {
  readonly start: number;
  readonly end: number;
  readonly name: string;
}

export interface PerfMap {
  /** The JS function (or V8 stub) whose code holds `address`, or undefined. */
  lookup(address: number): string | undefined;
  readonly size: number;
}

/**
 * A perf map, as node's `--perf-basic-prof` writes it. Code can be freed and its address reused; the
 * later line wins, as it describes what was there last (the warm code the dump counted).
 */
export function parsePerfMap(text: string, root: string): PerfMap {
  const byStart = new Map<number, PerfEntry>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(' ');
    const second = line.indexOf(' ', first + 1);
    if (first < 1 || second < 0) continue;
    const start = Number.parseInt(line.slice(0, first), 16);
    const size = Number.parseInt(line.slice(first + 1, second), 16);
    if (!Number.isFinite(start) || !Number.isFinite(size)) continue;
    byStart.set(start, { start, end: start + size, name: shortName(line.slice(second + 1), root) });
  }
  const entries = [...byStart.values()].sort((a, b) => a.start - b.start);
  return {
    size: entries.length,
    lookup(address) {
      let lo = 0;
      let hi = entries.length - 1;
      let found: PerfEntry | undefined;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const entry = entries[mid]!;
        if (entry.start <= address) {
          found = entry;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      return found !== undefined && address < found.end ? found.name : undefined;
    },
  };
}

/** Paths relative to the repository: `file:///…/repo/dist/x.js:1:2` → `dist/x.js:1:2`. */
function shortName(name: string, root: string): string {
  return name.replaceAll(`file://${root}`, '').replaceAll(root, '');
}

export interface FunctionCost {
  readonly name: string;
  /** Instructions in the function itself. */
  readonly self: number;
  /** Self plus everything it called (calls to itself not counted twice). */
  readonly inclusive: number;
}

export interface Profile {
  /** `totals:` of the dump: every instruction counted, all threads. */
  readonly total: number;
  readonly functions: readonly FunctionCost[];
  /** Instructions in code with no symbol and no perf-map entry (JIT code logged before the map, stubs). */
  readonly unnamedJit: number;
  /** Instructions in JIT code named from the perf map. */
  readonly namedJit: number;
  /**
   * Instructions spent in V8's compilers (parsing, bytecode, Sparkplug, TurboFan, Maglev), on any
   * thread: the calls into them from outside them. A warm server still tiers code up and down now and
   * then; this work comes in large, irregular lumps, so the runner reports it apart.
   */
  readonly compile: number;
}

/** V8's compilers, by their C++ namespaces and entry points. */
const COMPILER =
  /^(v8::internal::(Compiler::|compiler::|baseline::|maglev::|turboshaft::|OptimizingCompileDispatcher|Parser::|ParserBase|PreParser|Scanner::|interpreter::BytecodeGenerator|BackgroundCompileTask|LazyCompileDispatcher|BaselineBatchCompiler|Runtime_Compile|Runtime_InstallBaselineCode|\(anonymous namespace\)::(CompileTurbofan|GetOrCompileOptimized|CompileMaglev|CompileOptimized))|v8::internal::.*::ExecuteJobImpl|v8::internal::.*CompilationJob::)/;
export const isCompiler = (name: string) => COMPILER.test(name);

const ADDRESS = /^0x([0-9a-f]+)$/;

/**
 * A callgrind dump (events: Ir; names compressed or not, one dump per file: `--compress-strings=no`
 * keeps each dump file readable on its own). Functions without a symbol are named by callgrind after their address; those
 * are looked up in `perf`.
 */
export function parseDump(text: string, perf: PerfMap | undefined): Profile {
  const names = new Map<string, string>();
  let unnamedJit = 0;
  let namedJit = 0;
  /** Name compression (callgrind's default): `fn=(12) name` the first time, `fn=(12)` after. */
  const ids = new Map<string, string>();
  const expand = (value: string): string => {
    const match = /^\((\d+)\)(?: (.*))?$/.exec(value);
    if (!match) return value;
    if (match[2] !== undefined) ids.set(match[1]!, match[2]);
    return ids.get(match[1]!) ?? value;
  };
  const nameOf = (compressed: string): string => {
    const raw = expand(compressed);
    const known = names.get(raw);
    if (known !== undefined) return known;
    // `'2`: callgrind's suffix for a recursion level (--separate-recs) or a context.
    const base = raw.replace(/'\d+$/, '');
    const match = ADDRESS.exec(base);
    const name = match ? (perf?.lookup(Number.parseInt(match[1]!, 16)) ?? `JIT ${base}`) : base;
    names.set(raw, name);
    return name;
  };
  const self = new Map<string, number>();
  const callsOut = new Map<string, number>();
  let total = 0;
  let fn = '';
  let cfn = '';
  let inCall = false;
  let compile = 0;
  let fnIsCompiler = false;
  for (const line of text.split('\n')) {
    const c = line.charCodeAt(0);
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
      // A cost line: `<line> <Ir>`.
      const space = line.lastIndexOf(' ');
      const cost = Number(line.slice(space + 1));
      if (!Number.isFinite(cost)) continue;
      if (inCall) {
        inCall = false;
        if (cfn !== fn) callsOut.set(fn, (callsOut.get(fn) ?? 0) + cost);
        if (!fnIsCompiler && isCompiler(cfn)) compile += cost;
      } else {
        self.set(fn, (self.get(fn) ?? 0) + cost);
        if (fn.startsWith('JIT ')) unnamedJit += cost;
        else if (fn.startsWith('JS:') || fn.startsWith('Function:') || fn.startsWith('LazyCompile:'))
          namedJit += cost;
      }
    } else if (line.startsWith('fn=')) {
      fn = nameOf(line.slice(3));
      fnIsCompiler = isCompiler(fn);
      inCall = false;
    } else if (line.startsWith('cfn=')) {
      cfn = nameOf(line.slice(4));
    } else if (line.startsWith('calls=')) {
      inCall = true;
    } else if (line.startsWith('totals:') || line.startsWith('summary:')) {
      total = Math.max(total, Number(line.slice(line.indexOf(':') + 1).trim()));
    }
  }
  const functions = [...new Set([...self.keys(), ...callsOut.keys()])].map((name) => ({
    name,
    self: self.get(name) ?? 0,
    inclusive: (self.get(name) ?? 0) + (callsOut.get(name) ?? 0),
  }));
  return { total, functions, unnamedJit, namedJit, compile };
}

/** True for a JS function named from the perf map (not a V8 stub, builtin or C++ symbol). */
export const isJsFunction = (name: string) =>
  /^(JS|Function|LazyCompile):/.test(name) && !/^(JS|Function|LazyCompile):\s*$/.test(name);

/**
 * The window whose figure a process gives (bench/instr.ts): the median by instructions net of JIT
 * compilation (the lower middle of an even count). A window with a large compile lump comes out low
 * (a GC that a compilation triggers counts as compile), the one after a deoptimisation wave high; the
 * median is neither unless most windows are.
 */
export function medianWindow<P extends Pick<Profile, 'total' | 'compile'>>(windows: readonly P[]): P {
  if (windows.length === 0) throw new TypeError('medianWindow: no window');
  const net = (p: P) => p.total - p.compile;
  return [...windows].sort((a, b) => net(a) - net(b))[(windows.length - 1) >> 1]!;
}
