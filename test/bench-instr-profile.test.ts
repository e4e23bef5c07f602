/**
 * bench/instr-profile.ts, which bench:instr's figures rest on: a callgrind dump's totals, the JIT
 * compilation counted apart (calls into V8's compilers from outside them, inclusive), JIT code named
 * from a perf map, and the window a process's figure comes from.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { medianWindow, parseDump, parsePerfMap } from '../bench/instr-profile.ts';

// A small dump in callgrind's format, names uncompressed (what `--compress-strings=no` writes).
const DUMP = `events: Ir
fn=main
0 100
cfn=0x1000
calls=1 0
0 500
cfn=v8::internal::Compiler::Compile(v8::internal::Isolate*)
calls=1 0
0 300
fn=0x1000
0 450
cfn=v8::internal::compiler::PipelineImpl::OptimizeGraph(v8::internal::compiler::Linkage*)
calls=1 0
0 50
fn=v8::internal::Compiler::Compile(v8::internal::Isolate*)
0 200
cfn=v8::internal::compiler::PipelineImpl::OptimizeGraph(v8::internal::compiler::Linkage*)
calls=1 0
0 100
fn=v8::internal::compiler::PipelineImpl::OptimizeGraph(v8::internal::compiler::Linkage*)
0 150
totals: 900
`;

test('parseDump: the total, compilation entered from outside the compilers (not twice from inside), JIT code named', () => {
  const perf = parsePerfMap('1000 100 JS:*handler /repo/src/app.ts:1:2\n', '/repo/');
  const profile = parseDump(DUMP, perf);
  assert.equal(profile.total, 900);
  // main → Compiler::Compile (300) and handler → OptimizeGraph (50); Compile → OptimizeGraph is inside.
  assert.equal(profile.compile, 350);
  const handler = profile.functions.find((f) => f.name === 'JS:*handler src/app.ts:1:2');
  assert.deepEqual(handler && { self: handler.self, inclusive: handler.inclusive }, {
    self: 450,
    inclusive: 500,
  });
  assert.equal(profile.namedJit, 450);
  assert.equal(profile.unnamedJit, 0);
});

test('medianWindow: the middle window by instructions net of compile, neither the low lump nor the high one', () => {
  const windows = [
    { id: 'settled', total: 1_183, compile: 333 }, // 850
    { id: 'after deopts', total: 1_312, compile: 390 }, // 922
    { id: 'compile lump', total: 1_988, compile: 1_152 }, // 836
  ];
  assert.equal(medianWindow(windows).id, 'settled');
  const fastify = [
    { id: 'w1', total: 796, compile: 423 }, // 373
    { id: 'w2', total: 717, compile: 362 }, // 355
    { id: 'w3', total: 1_215, compile: 1_020 }, // 195
  ];
  assert.equal(medianWindow(fastify).id, 'w2');
  assert.equal(medianWindow([{ id: 'one', total: 5, compile: 1 }]).id, 'one');
  assert.equal(
    medianWindow([
      { id: 'a', total: 9, compile: 0 },
      { id: 'b', total: 4, compile: 0 },
    ]).id,
    'b',
  );
  assert.throws(() => medianWindow([]), TypeError);
});
