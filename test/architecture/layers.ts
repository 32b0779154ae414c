/**
 * The layering of the sources, written once: which layer each file of src/ belongs to,
 * and the rules its imports obey, checked over the real import graph as the TypeScript parser sees
 * it (static imports, re-exports, dynamic import(), import types and require calls), not over text
 * patterns. Layers, innermost first:
 * - core: pure computation and the contracts the layers share; no I/O, no time, no randomness.
 * - engine: the protocols (coordination, gossip, handoff, anti-entropy); I/O, time and randomness
 *   are injected, so the same engine runs in the daemon and in the simulator.
 * - adapter: the implementations of what engines get injected (sockets, disks, real clocks).
 * - root: composition roots and the user interface, which wire everything together.
 * Every check is a pure function of the sources (a map from path to text), so the checker itself
 * is tested on a small synthetic tree as well as run on the real one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { posix } from 'node:path';
import ts from 'typescript';

export type Layer = 'core' | 'engine' | 'adapter' | 'root';

/** A pattern relative to src/: a file (`errors.ts`) or a folder and everything under it (`ring/**`). */
export interface LayerEntry {
  readonly pattern: string;
  readonly layer: Layer;
  /** The entry may match no file yet (a folder the refactoring is still to create). */
  readonly optional?: boolean;
}

/** The layer of each file under src/; the most specific entry wins (a file over a folder, a deeper folder over a shallower one). */
export const LAYER_MAP: readonly LayerEntry[] = [
  // core: pure logic and the contracts (types, errors, settings) every layer shares.
  { pattern: 'errors.ts', layer: 'core' },
  { pattern: 'config.ts', layer: 'core' },
  { pattern: 'json.ts', layer: 'core' },
  { pattern: 'clock/**', layer: 'core' },
  { pattern: 'ring/**', layer: 'core' },
  { pattern: 'membership/**', layer: 'core' },
  { pattern: 'quorum/**', layer: 'core' },
  { pattern: 'protocol/**', layer: 'core', optional: true }, // the wire messages, once they leave net/
  { pattern: 'antientropy/merkle-tree.ts', layer: 'core' },
  { pattern: 'antientropy/ranges.ts', layer: 'core' },
  { pattern: 'storage/record-format.ts', layer: 'core' },
  { pattern: 'storage/codec.ts', layer: 'core' },
  { pattern: 'storage/lru-cache.ts', layer: 'core' },
  { pattern: 'storage/store.ts', layer: 'core' },
  { pattern: 'storage/storage-health.ts', layer: 'core' },
  { pattern: 'env/clock.ts', layer: 'core' },
  { pattern: 'env/random.ts', layer: 'core' },
  { pattern: 'env/with-resolvers.ts', layer: 'core' },
  { pattern: 'env/keyed-lock.ts', layer: 'core' },
  { pattern: 'env/logger.ts', layer: 'core' },
  { pattern: 'env/log-events.ts', layer: 'core' },
  { pattern: 'env/log-line.ts', layer: 'core' },
  { pattern: 'env/log-rotation.ts', layer: 'core' },
  { pattern: 'net/connection-budget.ts', layer: 'core' },
  { pattern: 'net/link-pool.ts', layer: 'core' },
  { pattern: 'metrics/**', layer: 'core' },
  // engine: the protocols, with I/O, time and randomness injected.
  { pattern: 'coordinator/**', layer: 'engine' },
  { pattern: 'antientropy/**', layer: 'engine' },
  { pattern: 'handoff/**', layer: 'engine' },
  { pattern: 'gossip/**', layer: 'engine' },
  { pattern: 'replica/**', layer: 'engine' },
  { pattern: 'peer/**', layer: 'engine', optional: true }, // the peer-facing request handling, once it leaves node/
  { pattern: 'node/**', layer: 'engine' },
  // adapter: what the engines get injected, over real sockets, disks and timers.
  { pattern: 'net/**', layer: 'adapter' },
  { pattern: 'storage/**', layer: 'adapter' },
  { pattern: 'env/**', layer: 'adapter' },
  { pattern: 'client/**', layer: 'adapter' },
  { pattern: 'daemon/**', layer: 'adapter' },
  { pattern: 'sim/sim-network.ts', layer: 'adapter' },
  { pattern: 'sim/**', layer: 'adapter' },
  { pattern: 'metrics/prometheus.ts', layer: 'adapter' },
  { pattern: 'metrics/metrics-server.ts', layer: 'adapter' },
  // root: composition roots and the user interface.
  { pattern: 'daemon/main.ts', layer: 'root' },
  { pattern: 'node/build-node.ts', layer: 'root' },
  { pattern: 'sim/sim-cluster.ts', layer: 'root' },
  { pattern: 'sim/chaos-workload.ts', layer: 'root' },
  { pattern: 'sim/seed-sweep.ts', layer: 'root' },
  { pattern: 'sim/scale-run.ts', layer: 'root' },
  { pattern: 'sim/index.ts', layer: 'root' },
  { pattern: 'sim/gossip-only.ts', layer: 'root' },
  { pattern: 'cli/**', layer: 'root' },
  { pattern: 'views/**', layer: 'root' },
];

/** Folders beside src/ whose every file is a root: the oclif commands and the benchmarks. */
export const ROOT_FOLDERS: readonly string[] = ['commands', 'bench'];

/** The node builtins pure code may use: bytes and hashing are computation, not I/O. */
export const PURE_BUILTINS: ReadonlySet<string> = new Set(['node:buffer', 'node:crypto']);

// ---------------------------------------------------------------------------------------------
// The import graph

export type ImportTarget =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'builtin'; readonly name: string }
  | { readonly kind: 'package'; readonly name: string }
  | { readonly kind: 'unresolved'; readonly specifier: string };

export interface ImportEdge {
  readonly from: string;
  readonly line: number;
  readonly target: ImportTarget;
  /** Erased at run time (`import type`, `export type`, all-`type` specifiers, `typeof import()`). */
  readonly typeOnly: boolean;
}

export interface SourceNode {
  readonly path: string;
  readonly text: string;
  readonly source: ts.SourceFile;
  readonly imports: readonly ImportEdge[];
}

/** The graph of the sources, and the layer of each file (undefined: the map does not cover it). */
export interface Project {
  readonly files: ReadonlyMap<string, SourceNode>;
  readonly map: readonly LayerEntry[];
  layerOf(path: string): Layer | undefined;
}

interface RawImport {
  readonly specifier: string;
  readonly line: number;
  readonly typeOnly: boolean;
}

/** Every module specifier a file names, found by walking its syntax tree. */
function importsOf(source: ts.SourceFile): RawImport[] {
  const found: RawImport[] = [];
  const add = (literal: ts.Node, typeOnly: boolean) => {
    if (!ts.isStringLiteralLike(literal)) return;
    const line = source.getLineAndCharacterOfPosition(literal.getStart(source)).line + 1;
    found.push({ specifier: literal.text, line, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node.moduleSpecifier, isTypeOnlyImport(node.importClause));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
      add(node.moduleSpecifier, node.isTypeOnly || (named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true);
    } else if (ts.isCallExpression(node) && node.arguments.length > 0) {
      const callee = node.expression;
      const isDynamicImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      // `require('x')`, and `createRequire(import.meta.url)('x')` as ESM code loads CommonJS.
      const isRequire =
        (ts.isIdentifier(callee) && callee.text === 'require') ||
        (ts.isCallExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'createRequire');
      if (isDynamicImport || isRequire) add(node.arguments[0]!, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function isTypeOnlyImport(clause: ts.ImportClause | undefined): boolean {
  if (!clause) return false; // `import 'x'` runs x
  if (clause.isTypeOnly) return true;
  if (clause.name) return false;
  const bindings = clause.namedBindings;
  return bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
}

const BUILTINS = new Set(builtinModules);

/** Where a specifier leads: a file of the graph (ESM `.js` names the `.ts`/`.tsx` source), a builtin or a package. */
function resolve(from: string, specifier: string, paths: ReadonlySet<string>): ImportTarget {
  if (specifier.startsWith('node:')) return { kind: 'builtin', name: specifier };
  if (!specifier.startsWith('.') && !specifier.startsWith('/')) {
    const parts = specifier.split('/');
    const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
    if (BUILTINS.has(specifier) || BUILTINS.has(name)) return { kind: 'builtin', name: `node:${specifier}` };
    return { kind: 'package', name };
  }
  const base = posix.join(posix.dirname(from), specifier);
  const stem = base.replace(/\.(js|jsx|ts|tsx)$/, '');
  const candidates = [base, `${stem}.ts`, `${stem}.tsx`, `${base}/index.ts`, `${base}/index.tsx`];
  const path = candidates.find((c) => paths.has(c));
  return path ? { kind: 'file', path } : { kind: 'unresolved', specifier };
}

function matches(pattern: string, srcPath: string): boolean {
  return pattern.endsWith('/**') ? srcPath.startsWith(pattern.slice(0, -2)) : srcPath === pattern;
}

/** A file beats any folder; a deeper folder beats a shallower one. */
function specificity(pattern: string): number {
  return pattern.endsWith('/**') ? pattern.split('/').length - 1 : Number.POSITIVE_INFINITY;
}

/** The layer of a repository path, by the map for src/ and by ROOT_FOLDERS beside it. */
export function classify(path: string, map: readonly LayerEntry[]): Layer | undefined {
  if (ROOT_FOLDERS.some((folder) => path.startsWith(`${folder}/`))) return 'root';
  if (!path.startsWith('src/')) return undefined;
  const srcPath = path.slice('src/'.length);
  let best: LayerEntry | undefined;
  for (const entry of map) {
    if (matches(entry.pattern, srcPath) && (!best || specificity(entry.pattern) > specificity(best.pattern))) best = entry;
  }
  return best?.layer;
}

/** Parses every source (repository-relative path -> text) and resolves its imports. */
export function analyse(sources: ReadonlyMap<string, string>, map: readonly LayerEntry[] = LAYER_MAP): Project {
  const paths = new Set(sources.keys());
  const files = new Map<string, SourceNode>();
  for (const [path, text] of sources) {
    const kind = path.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
    const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, kind);
    const imports = importsOf(source).map((raw) => ({ from: path, line: raw.line, typeOnly: raw.typeOnly, target: resolve(path, raw.specifier, paths) }));
    files.set(path, { path, text, source, imports });
  }
  const layers = new Map([...paths].map((path) => [path, classify(path, map)]));
  return { files, map, layerOf: (path) => layers.get(path) };
}

/** The .ts and .tsx files of src/ and ROOT_FOLDERS under `repoRoot`, by repository-relative path. */
export function readSources(repoRoot: string): Map<string, string> {
  const sources = new Map<string, string>();
  for (const folder of ['src', ...ROOT_FOLDERS]) {
    for (const entry of readdirSync(posix.join(repoRoot, folder), { recursive: true })) {
      const path = posix.join(folder, String(entry));
      if (/\.tsx?$/.test(path) && !path.endsWith('.d.ts')) sources.set(path, readFileSync(posix.join(repoRoot, path), 'utf8'));
    }
  }
  return new Map([...sources].sort(([a], [b]) => a.localeCompare(b)));
}

// ---------------------------------------------------------------------------------------------
// The rules. Each returns one line per violation, `from -> to (why)`; none means the rule holds.

export interface Rule {
  readonly title: string;
  check(project: Project): string[];
}

const nameOf = (target: ImportTarget): string => (target.kind === 'file' ? target.path : target.kind === 'unresolved' ? target.specifier : target.name);

function edgeLine(edge: ImportEdge, why: string): string {
  return `${edge.from}:${edge.line} -> ${nameOf(edge.target)} (${why}${edge.typeOnly ? ', type-only' : ''})`;
}

function* edgesFrom(project: Project, layer: Layer): Generator<ImportEdge> {
  for (const file of project.files.values()) if (project.layerOf(file.path) === layer) yield* file.imports;
}

/**
 * The imports of `layer` that go outside `allowed` layers and, when the layer must be `pure`, to a
 * builtin not in PURE_BUILTINS or to an npm package. Imports of roots are left to the roots rule,
 * so each bad import is reported once.
 */
function layerViolations(project: Project, layer: Layer, allowed: readonly Layer[], pure: boolean): string[] {
  const lines: string[] = [];
  for (const edge of edgesFrom(project, layer)) {
    const { target } = edge;
    const to = target.kind === 'file' ? project.layerOf(target.path) : undefined;
    const leaf = impurity(target);
    if (to && to !== 'root' && !allowed.includes(to)) lines.push(edgeLine(edge, `${layer} imports ${to}`));
    else if (pure && leaf) lines.push(edgeLine(edge, `${layer} imports ${leaf}`));
  }
  return lines;
}

/** What makes an import target impure: a builtin outside PURE_BUILTINS, or any npm package. */
function impurity(target: ImportTarget): string | undefined {
  if (target.kind === 'builtin' && !PURE_BUILTINS.has(target.name)) return 'an I/O builtin';
  if (target.kind === 'package') return 'an npm package';
  return undefined;
}

/**
 * For each core file, each builtin outside PURE_BUILTINS and each package its whole import closure
 * reaches through another file, with the shortest chain that reaches it (direct imports are the
 * direct rule's).
 */
function impureClosures(project: Project): string[] {
  const lines: string[] = [];
  for (const start of project.files.values()) {
    if (project.layerOf(start.path) !== 'core') continue;
    const via = new Map<string, ImportEdge | undefined>([[start.path, undefined]]);
    const queue = [start.path];
    const direct = start.imports.filter((edge) => impurity(edge.target));
    const reported = new Set(direct.map((edge) => nameOf(edge.target)));
    for (let i = 0; i < queue.length; i++) {
      const path = queue[i]!;
      for (const edge of project.files.get(path)?.imports ?? []) {
        const { target } = edge;
        if (target.kind === 'file' && !via.has(target.path)) {
          via.set(target.path, edge);
          queue.push(target.path);
        }
        const leaf = impurity(target);
        if (!leaf || reported.has(nameOf(target))) continue;
        reported.add(nameOf(target));
        const chain = [edge];
        for (let e = via.get(path); e; e = via.get(e.from)) chain.unshift(e);
        const typeOnly = chain.some((e) => e.typeOnly) ? ', through a type-only import' : '';
        lines.push(`${start.path} -> ${chain.map((e) => nameOf(e.target)).join(' -> ')} (core reaches ${leaf}${typeOnly})`);
      }
    }
  }
  return lines;
}

/** The top-level folder of a src/ file, or the file itself when it sits directly in src/. */
function folderOf(path: string): string {
  return path.split('/')[1]!;
}

/** Strongly connected components of a directed graph with more than one node (Tarjan 1972). */
export function cycles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) components.push(component.sort());
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) connect(v);
  return components;
}

function folderCycles(project: Project): string[] {
  const edges = new Map<string, Set<string>>();
  const example = new Map<string, ImportEdge>(); // 'a b' -> one import from folder a into folder b
  for (const file of project.files.values()) {
    if (!file.path.startsWith('src/')) continue;
    const from = folderOf(file.path);
    if (!edges.has(from)) edges.set(from, new Set());
    for (const edge of file.imports) {
      if (edge.target.kind !== 'file' || !edge.target.path.startsWith('src/')) continue;
      const to = folderOf(edge.target.path);
      if (to === from) continue;
      edges.get(from)!.add(to);
      if (!example.has(`${from} ${to}`)) example.set(`${from} ${to}`, edge);
    }
  }
  const lines: string[] = [];
  for (const component of cycles(edges)) {
    const members = new Set(component);
    for (const from of component) {
      for (const to of [...edges.get(from)!].sort()) {
        if (members.has(to)) lines.push(edgeLine(example.get(`${from} ${to}`)!, `folder cycle {${component.join(', ')}}: ${from} -> ${to}`));
      }
    }
  }
  return lines;
}

/** The text of a file with its comments blanked out (line breaks kept, so positions stay put). */
function withoutComments(source: ts.SourceFile): string {
  const text = source.text;
  const chars = text.split('');
  // Every comment is in the trivia before some token (the end-of-file token included): on the line
  // of the token before it (trailing) or on a line of its own (leading).
  const visit = (node: ts.Node): void => {
    const ranges = [...(ts.getTrailingCommentRanges(text, node.pos) ?? []), ...(ts.getLeadingCommentRanges(text, node.pos) ?? [])];
    for (const range of ranges) {
      for (let i = range.pos; i < range.end; i++) if (chars[i] !== '\n') chars[i] = ' ';
    }
    for (const child of node.getChildren(source)) visit(child);
  };
  visit(source);
  return chars.join('');
}

const IMPURE_CALLS: readonly [RegExp, string][] = [
  [/\bDate\.now\s*\(/g, 'reads the wall clock'],
  [/\bnew\s+Date\s*\(/g, 'reads the wall clock'],
  [/\bMath\.random\s*\(/g, 'draws unseeded randomness'],
  [/\bset(Timeout|Interval|Immediate)\s*\(/g, 'starts a real timer'],
];

function impureCalls(project: Project): string[] {
  const lines: string[] = [];
  for (const file of project.files.values()) {
    const layer = project.layerOf(file.path);
    if (layer !== 'core' && layer !== 'engine') continue;
    // SystemClock, the real clock, still lives in env/clock.ts beside the Clock contract; the file is
    // exempt only while it does, and loses the exemption once SystemClock moves to an adapter.
    if (file.path === 'src/env/clock.ts' && /\bclass SystemClock\b/.test(file.text)) continue;
    const code = withoutComments(file.source);
    for (const [pattern, why] of IMPURE_CALLS) {
      for (const match of code.matchAll(pattern)) {
        const line = file.source.getLineAndCharacterOfPosition(match.index).line + 1;
        lines.push(`${file.path}:${line} -> ${match[0].replace(/\s+/g, ' ')} (${layer} ${why})`);
      }
    }
  }
  return lines;
}

export const RULES: readonly Rule[] = [
  {
    // The core is what every layer builds on and what the tests and the simulator run as is: it
    // must not drag in engines, adapters, I/O or third-party code, not even through types.
    title: '1. core imports only core, and no I/O even transitively',
    check: (project) => [...layerViolations(project, 'core', ['core'], true), ...impureClosures(project)],
  },
  {
    // Engines get sockets, disks, time and randomness injected, so the simulator can drive them
    // deterministically; a direct import of an adapter or of an I/O module would bypass that.
    title: '2. engines import only core and engines, and no I/O',
    check: (project) => layerViolations(project, 'engine', ['core', 'engine'], true),
  },
  {
    // Adapters implement the contracts engines consume; an adapter that reaches up into an engine
    // ties the implementation of an interface to one of its users and makes cycles.
    title: '3. adapters import only core and adapters',
    check: (project) => layerViolations(project, 'adapter', ['core', 'adapter'], false),
  },
  {
    // Roots wire the layers together and are the top of the graph: anything that imports one
    // depends on the whole application, and the product must not depend on the commands or benchmarks.
    title: '4. only roots import roots; src/ imports no command or benchmark',
    check: (project) => {
      const lines: string[] = [];
      for (const file of project.files.values()) {
        const from = project.layerOf(file.path);
        for (const edge of file.imports) {
          if (edge.target.kind !== 'file') continue;
          const outsideSrc = !edge.target.path.startsWith('src/');
          if (file.path.startsWith('src/') && outsideSrc) lines.push(edgeLine(edge, 'src/ imports a command or benchmark'));
          else if (from !== 'root' && from !== undefined && project.layerOf(edge.target.path) === 'root') lines.push(edgeLine(edge, `${from} imports root`));
        }
      }
      return lines;
    },
  },
  {
    // The map is the architecture: a file it does not place escapes every rule, and an entry that
    // places nothing describes code that is gone (optional entries name folders still to come).
    title: '5. the layer map places every file and every entry is used',
    check: (project) => {
      const lines: string[] = [];
      const srcPaths = [...project.files.keys()].filter((path) => path.startsWith('src/')).map((path) => path.slice('src/'.length));
      for (const path of srcPaths) if (!project.layerOf(`src/${path}`)) lines.push(`src/${path} -> ? (no entry of the layer map matches it)`);
      const seen = new Set<string>();
      for (const entry of project.map) {
        if (seen.has(entry.pattern)) lines.push(`layer map -> ${entry.pattern} (entry listed twice)`);
        seen.add(entry.pattern);
        if (!entry.optional && !srcPaths.some((path) => matches(entry.pattern, path))) lines.push(`layer map -> ${entry.pattern} (entry matches no file)`);
      }
      for (const file of project.files.values()) {
        for (const edge of file.imports) if (edge.target.kind === 'unresolved') lines.push(edgeLine(edge, 'import resolves to no source file'));
      }
      return lines;
    },
  },
  {
    // A cycle between folders means neither can be understood, tested or moved without the other,
    // and it is how layer violations hide (A uses B's types, B calls A).
    title: '6. no cycles between the folders of src/',
    check: folderCycles,
  },
  {
    // Pure code takes time, timers and randomness injected (Clock, Random), so the simulator can
    // replay a run exactly; a direct call would make it depend on the machine it runs on.
    title: '7. core and engines use no wall clock, Math.random or timer',
    check: impureCalls,
  },
];
