/**
 * Bad input never leaves a trace (issue 13). A corpus of hostile inputs, generated here, is given to the Api
 * in-process (the path the CLI, the web page and the desktop app share): broken language-model folders, broken
 * SAELens folders and safetensors files, unusable corpora, impossible option values and combinations, SAE runs
 * that cannot be evaluated, unknown ids, broken bundles and uploads. For every case: the call is refused with
 * an error, the message names the problem in words (no stack, no raw JSON, no zod dump), nothing crashed, and
 * the store is unchanged (row counts of every table, every file of the data dir).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { encodeSafetensors, type TensorInput } from '../../src-main/engine/io/safetensors.ts';
import { preflightJob } from '../../src-main/jobs/preflight.ts';
import type { Store } from '../../src-main/store/index.ts';
import { lmJobFromOptions } from '../../src-shared/jobBuilders.ts';
import {
  expectReadable,
  headerOf,
  lmConfigJson,
  lmTensors,
  saeTensors,
  seedSaeRun as seedSaeRunIn,
  snapshot,
  withHeader,
  writeLm,
  writeSaeSet,
  writeStaircase,
} from './badInput.helpers.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

let tmp: string;
let service: ScalarService;
let store: Store;
let lmDir: string;
let goodCorpus: string;
const ids: Record<string, string> = {};

const TEXT = 'It was the best of times, it was the worst of times, it was the age of wisdom. '.repeat(60);
const p = (...parts: string[]) => path.join(tmp, ...parts);
const write = (file: string, data: string | Uint8Array) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  return file;
};

const seedSaeRun = (name: string, opts: Parameters<typeof seedSaeRunIn>[3] = {}) =>
  seedSaeRunIn(store, lmDir, name, opts);

/** A fresh copy of the good SAELens set, broken by `mutate` (given the folder of blocks.0.hook_mlp_out). */
let copies = 0;
function saeSet(mutate: (hookDir: string, root: string) => void = () => {}): string {
  const root = p('saes', `set${++copies}`);
  writeSaeSet(root);
  mutate(path.join(root, 'blocks.0.hook_mlp_out'), root);
  return root;
}
const cfgOf = (hookDir: string) => JSON.parse(fs.readFileSync(path.join(hookDir, 'cfg.json'), 'utf8'));
const setCfg = (hookDir: string, cfg: unknown) =>
  fs.writeFileSync(path.join(hookDir, 'cfg.json'), typeof cfg === 'string' ? cfg : JSON.stringify(cfg));
const weightsFile = (hookDir: string) => path.join(hookDir, 'sae_weights.safetensors');
const setWeights = (hookDir: string, t: Record<string, TensorInput>) =>
  fs.writeFileSync(weightsFile(hookDir), encodeSafetensors(t));
const goodWeights = () => saeTensors(16, 11);
/** The good weights file of the folder with its header rewritten by `edit`. */
const editHeader = (
  hookDir: string,
  edit: (h: Record<string, unknown>) => void,
  extra = new Uint8Array(),
) => {
  const { header, data } = headerOf(fs.readFileSync(weightsFile(hookDir)));
  edit(header);
  fs.writeFileSync(weightsFile(hookDir), withHeader(JSON.stringify(header), Buffer.concat([data, extra])));
};

/** A fresh copy of the tiny LM folder, broken by `mutate`. */
let lmCopies = 0;
function lm(opts: Parameters<typeof writeLm>[1] = {}, after: (dir: string) => void = () => {}): string {
  const dir = writeLm(p('lms', `lm${++lmCopies}`), opts);
  after(dir);
  return dir;
}
const lmWith = (edit: (t: Record<string, TensorInput>) => void) => {
  const t = lmTensors();
  edit(t);
  return lm({ tensors: t });
};
const lmConfig = (edit: (c: Record<string, unknown>) => void) => {
  const c = lmConfigJson();
  edit(c);
  return lm({ config: c });
};

// Job specs as the Api receives them (what the forms and the CLI build), then broken.
const saeSpec = (config: Record<string, unknown> = {}, schedule: Record<string, unknown> = {}) => ({
  kind: 'train-sae' as const,
  config: {
    preset: 'quick',
    lm: lmDir,
    arch: 'topk',
    setup: 'fflayer',
    width: 16,
    k: 4,
    corpus: goodCorpus,
    ...config,
    schedule: { steps: 10, batchSize: 2, ...schedule },
  },
});
const lmSpec = (config: Record<string, unknown> = {}, schedule: Record<string, unknown> = {}) => {
  const built = lmJobFromOptions({ preset: 'quick', steps: 10, corpus: goodCorpus });
  if (!built.ok) throw new Error('base LM spec invalid');
  const c = built.spec.config;
  return { kind: 'train-lm' as const, config: { ...c, ...config, schedule: { ...c.schedule, ...schedule } } };
};
const scalarSpec = (config: Record<string, unknown>) => ({
  kind: 'scalar' as const,
  config: { sae: ids.sae, attributionSeqs: 2, evalSeqs: 2, bootstrap: 10, ...config },
});

const start = (spec: unknown) => service.call('jobs.start', { spec } as never);
const importSaes = (source: string, lmRef = lmDir) => service.call('saes.import', { lm: lmRef, source });
const upload = (
  kind: 'corpus' | 'bundle',
  name: string,
  data: Uint8Array | string,
  declared: number | null = null,
) => service.upload(kind, name, Readable.from([Buffer.from(data)]), declared);

interface Case {
  name: string;
  call: () => Promise<unknown>;
  says: RegExp;
}

/** Cases are built lazily (after beforeAll made the files they refer to). */
const cases: [string, () => Case[]][] = [];
const group = (title: string, make: () => Case[]) => cases.push([title, make]);

group('language model folders', () => [
  {
    name: 'a path that does not exist',
    call: () => start(saeSpec({ lm: p('nowhere') })),
    says: /cannot find language model '.*nowhere'/,
  },
  {
    name: 'a folder without config.json',
    call: () => start(saeSpec({ lm: lm({}, (d) => fs.rmSync(path.join(d, 'config.json'))) })),
    says: /cannot find language model .*config\.json/,
  },
  {
    name: 'config.json that is not JSON',
    call: () => start(saeSpec({ lm: lm({ config: '{"n_embd": 16,' }) })),
    says: /config\.json is not valid JSON/,
  },
  {
    name: 'config.json holding null',
    call: () => start(saeSpec({ lm: lm({ config: 'null' }) })),
    says: /config\.json must hold a JSON object \(got null\)/,
  },
  {
    name: 'config.json without n_embd',
    call: () => start(saeSpec({ lm: lmConfig((c) => delete c.n_embd) })),
    says: /'n_embd' is missing in .*config\.json/,
  },
  {
    name: 'config.json with n_layer 0',
    call: () => start(saeSpec({ lm: lmConfig((c) => (c.n_layer = 0)) })),
    says: /'n_layer' must be an integer ≥ 1 \(got 0\) in .*config\.json/,
  },
  {
    name: 'config.json with n_head 3 (16 not divisible)',
    call: () => start(saeSpec({ lm: lmConfig((c) => (c.n_head = 3)) })),
    says: /'n_embd' \(16\) must be a multiple of 'n_head' \(3\)/,
  },
  {
    name: 'no model.safetensors',
    call: () => start(saeSpec({ lm: lm({}, (d) => fs.rmSync(path.join(d, 'model.safetensors'))) })),
    says: /no model file at .*model\.safetensors/,
  },
  {
    name: 'a truncated model.safetensors',
    call: () => start(saeSpec({ lm: lm({ raw: encodeSafetensors(lmTensors()).subarray(0, 5000) }) })),
    says: /model\.safetensors: .*(truncated|past the end)/,
  },
  {
    name: 'NaN in the model weights',
    call: () =>
      start(saeSpec({ lm: lmWith((t) => ((t['h.1.mlp.c_fc.weight'].data as Float32Array)[7] = NaN)) })),
    says: /tensor h\.1\.mlp\.c_fc\.weight holds NaN at index 7/,
  },
  {
    name: 'Infinity in the model weights',
    call: () => start(saeSpec({ lm: lmWith((t) => ((t['wte.weight'].data as Float32Array)[0] = Infinity)) })),
    says: /tensor wte\.weight holds Infinity/,
  },
  {
    name: 'a missing tensor',
    call: () => start(saeSpec({ lm: lmWith((t) => delete t['h.1.attn.c_proj.bias']) })),
    says: /missing tensor h\.1\.attn\.c_proj\.bias/,
  },
  {
    name: 'a tensor of the wrong shape',
    call: () =>
      start(
        saeSpec({
          lm: lmWith(
            (t) => (t['wpe.weight'] = { dtype: 'F32', shape: [8, 16], data: new Float32Array(128) }),
          ),
        }),
      ),
    says: /'wpe\.weight': expected F32 \[16,16\], got F32 \[8,16\]/,
  },
  {
    name: 'a tensor in F64',
    call: () =>
      start(
        saeSpec({
          lm: lmWith((t) => (t['ln_f.bias'] = { dtype: 'F64', shape: [16], data: new Float64Array(16) })),
        }),
      ),
    says: /'ln_f\.bias': expected F32 \[16\], got F64 \[16\]/,
  },
  {
    name: 'an unexpected tensor',
    call: () =>
      start(
        saeSpec({
          lm: lmWith(
            (t) => (t['h.5.mlp.c_fc.weight'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) }),
          ),
        }),
      ),
    says: /unexpected tensors for this config: h\.5\.mlp\.c_fc\.weight/,
  },
  {
    name: 'an unknown bundled model',
    call: () => start(saeSpec({ lm: 'resources:nope' })),
    says: /no bundled model 'resources:nope'/,
  },
  {
    name: 'the id of a failed LM run',
    call: () => start(saeSpec({ lm: ids.failedLm })),
    says: /is a failed lm run, not a completed LM run/,
  },
]);

group('corpora', () => [
  {
    name: 'a file that does not exist',
    call: () => start(lmSpec({ corpus: p('nope.txt') })),
    says: /Corpus file not found: .*nope\.txt/,
  },
  { name: 'a directory', call: () => start(lmSpec({ corpus: p('corpora') })), says: /not a regular file/ },
  {
    name: 'an empty file',
    call: () => start(lmSpec({ corpus: write(p('corpora', 'empty.txt'), '') })),
    says: /Corpus file is empty \(0 bytes\)/,
  },
  {
    name: 'only whitespace',
    call: () => start(lmSpec({ corpus: write(p('corpora', 'blank.txt'), ' \n\t\n  \n') })),
    says: /contains only whitespace/,
  },
  {
    name: 'binary with NUL bytes',
    call: () =>
      start(
        lmSpec({
          corpus: write(
            p('corpora', 'x.bin'),
            Uint8Array.from({ length: 4096 }, (_, i) => (i * 37) % 256),
          ),
        }),
      ),
    says: /looks binary, not text: it contains NUL bytes/,
  },
  {
    name: 'control characters',
    call: () =>
      start(
        lmSpec({
          corpus: write(
            p('corpora', 'ctl.txt'),
            Uint8Array.from({ length: 2000 }, (_, i) => (i % 2 ? 0x41 : 0x01)),
          ),
        }),
      ),
    says: /control characters/,
  },
  {
    name: 'Latin-1 text',
    call: () =>
      start(
        lmSpec({
          corpus: write(p('corpora', 'latin1.txt'), Buffer.from('café crème brûlée '.repeat(300), 'latin1')),
        }),
      ),
    says: /not valid UTF-8.*convert it to UTF-8/,
  },
  {
    name: 'UTF-16LE with a byte-order mark',
    call: () =>
      start(
        lmSpec({
          corpus: write(
            p('corpora', 'u16le.txt'),
            Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(TEXT, 'utf16le')]),
          ),
        }),
      ),
    says: /UTF-16 text \(little-endian, with a byte-order mark\), not UTF-8/,
  },
  {
    name: 'UTF-16BE with a byte-order mark',
    call: () =>
      start(
        lmSpec({
          corpus: write(
            p('corpora', 'u16be.txt'),
            Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(TEXT, 'utf16le').swap16()]),
          ),
        }),
      ),
    says: /UTF-16 text \(big-endian, with a byte-order mark\)/,
  },
  {
    name: 'UTF-16LE without a mark',
    call: () => start(lmSpec({ corpus: write(p('corpora', 'u16.txt'), Buffer.from(TEXT, 'utf16le')) })),
    says: /UTF-16 text \(little-endian\), not UTF-8/,
  },
  {
    name: 'too short for the context',
    call: () => start(lmSpec({ corpus: write(p('corpora', 'short.txt'), 'just a few words') })),
    says: /too short for context length T=64: it needs at least \d+ characters but has 16/,
  },
  {
    name: 'larger than can be read whole (a sparse 600 MiB file)',
    call: () => {
      const f = p('corpora', 'huge.txt');
      fs.writeFileSync(f, '');
      fs.truncateSync(f, 600 * 2 ** 20);
      return start(lmSpec({ corpus: f }));
    },
    says: /Corpus file is 600 MiB; .* at most 512 MiB/,
  },
  {
    name: 'an unknown built-in corpus',
    call: () => start(lmSpec({ corpus: 'builtin:shakespeare' })),
    says: /Unknown built-in corpus "builtin:shakespeare"/,
  },
  {
    name: 'SAE training on a corpus too short for the LM context',
    call: () => start(saeSpec({ corpus: write(p('corpora', 'tiny.txt'), 'hello world') })),
    says: /too short for context length T=16/,
  },
  {
    name: 'SCALAR on a binary corpus',
    call: () => start(scalarSpec({ corpus: p('corpora', 'x.bin') })),
    says: /looks binary/,
  },
  {
    name: 'a pipeline on an empty corpus',
    call: () =>
      service.call('pipelines.start', {
        config: { preset: 'quick', lm: lmDir, corpus: p('corpora', 'empty.txt') },
      }),
    says: /Corpus file is empty/,
  },
]);

group('option values and combinations', () => [
  {
    name: 'k = 2.5',
    call: () => start(saeSpec({ k: 2.5 })),
    says: /^option --k must be an integer ≥ 1 \(got 2\.5\)$/,
  },
  {
    name: 'k = 0',
    call: () => start(saeSpec({ k: 0 })),
    says: /^option --k must be an integer ≥ 1 \(got 0\)$/,
  },
  {
    name: 'k = -3',
    call: () => start(saeSpec({ k: -3 })),
    says: /^option --k must be an integer ≥ 1 \(got -3\)$/,
  },
  {
    name: 'k larger than the width',
    call: () => start(saeSpec({ width: 64, k: 100 })),
    says: /^option --k must be ≤ the width, 64 latents \(got 100\)$/,
  },
  {
    name: 'width 0',
    call: () => start(saeSpec({ width: 0 })),
    says: /option --width must be an integer ≥ 1 \(got 0\)/,
  },
  {
    name: 'steps 0',
    call: () => start(saeSpec({}, { steps: 0 })),
    says: /^option --steps must be an integer ≥ 1 \(got 0\)$/,
  },
  {
    name: 'batch size 0',
    call: () => start(lmSpec({}, { batchSize: 0 })),
    says: /^option --batch-size must be an integer ≥ 1 \(got 0\)$/,
  },
  {
    name: 'lr "fast"',
    call: () => start(lmSpec({}, { lr: 'fast' })),
    says: /^option --lr must be a number > 0 \(got 'fast'\)$/,
  },
  {
    name: 'lr 0',
    call: () => start(lmSpec({}, { lr: 0 })),
    says: /^option --lr must be a number > 0 \(got 0\)$/,
  },
  {
    name: 'eval-every 0',
    call: () => start(lmSpec({}, { evalEvery: 0 })),
    says: /^option --eval-every must be an integer ≥ 1 \(got 0\)$/,
  },
  {
    name: 'seed -1',
    call: () => start(lmSpec({ seed: -1 })),
    says: /^option --seed must be an integer ≥ 0 \(got -1\)$/,
  },
  {
    name: 'an unknown architecture',
    call: () => start(saeSpec({ arch: 'sigmoid' })),
    says: /^option --arch must be one of topk, staircase, .*jsae, relu, jumprelu \(got 'sigmoid'\)$/,
  },
  {
    name: 'training an import-only architecture',
    call: () => start(saeSpec({ arch: 'jumprelu' })),
    says: /'jumprelu' SAEs can only be imported/,
  },
  {
    name: 'JSAE at tblock',
    call: () => start(saeSpec({ arch: 'jsae', setup: 'tblock' })),
    says: /option --setup JSAE needs a tractable Jacobian/,
  },
  {
    name: 'an unknown lambda convention',
    call: () => start(saeSpec({ lambdaNorm: 'max' })),
    says: /option --lambda-norm must be one of mean, sum \(got 'max'\)/,
  },
  {
    name: 'negative lambda',
    call: () => start(saeSpec({ lambda: -1 })),
    says: /option --lambda must be a number ≥ 0 \(got -1\)/,
  },
  {
    name: 'a window longer than the LM context',
    call: () => start(saeSpec({}, { seqLen: 64 })),
    says: /option --seq-len must be ≤ the language model's context length 16 \(got 64\)/,
  },
  {
    name: 'an absurd LM batch size (memory)',
    call: () => start(lmSpec({}, { batchSize: 1_000_000 })),
    says: /one training step of 1000000 windows of 64 tokens needs at least [\d.]+ GiB of memory, but .*lower option --batch-size \(1000000\) to at most about \d+/,
  },
  {
    name: 'an absurd SAE batch size (memory)',
    call: () => start(saeSpec({}, { batchSize: 10_000_000 })),
    says: /one SAE training step .* needs at least .* of memory.*--batch-size/,
  },
  {
    name: 'an unknown job kind',
    call: () => start({ kind: 'train-gpt', config: {} }),
    says: /the job kind must be one of train-lm, train-sae, import-sae, scalar, latent-stats, validate-ranking \(got 'train-gpt'\)/,
  },
  { name: 'a spec without config', call: () => start({ kind: 'train-sae' }), says: /'config' is required/ },
  {
    name: 'a spec that is a number',
    call: () => start(42),
    says: /the job spec must be an object \(got 42\)|parameter 'spec'/,
  },
]);

group('SCALAR evaluations', () => [
  {
    name: '--pairs 99',
    call: () => start(scalarSpec({ pairs: [99] })),
    says: /option --pairs names pair 99, but this fflayer run has pairs 0–1/,
  },
  {
    name: '--pairs -1',
    call: () => start(scalarSpec({ pairs: [-1] })),
    says: /option --pairs must be an integer ≥ 0 \(got -1\)/,
  },
  {
    name: '--steps 0',
    call: () => start(scalarSpec({ steps: 0 })),
    says: /option --steps must be an integer ≥ 1 \(got 0\)/,
  },
  {
    name: '--grid huge',
    call: () => start(scalarSpec({ grid: 'huge' })),
    says: /option --grid must be one of paper, gpt2-paper, full \(got 'huge'\)/,
  },
  {
    name: '--ranking best',
    call: () => start(scalarSpec({ ranking: 'best' })),
    says: /option --ranking must be one of ig, random/,
  },
  {
    name: '--bootstrap -1',
    call: () => start(scalarSpec({ bootstrap: -1 })),
    says: /option --bootstrap must be an integer ≥ 0 \(got -1\)/,
  },
  {
    name: '--eval-seqs 2.5',
    call: () => start(scalarSpec({ evalSeqs: 2.5 })),
    says: /option --eval-seqs must be an integer ≥ 1 \(got 2\.5\)/,
  },
  {
    name: 'an unknown SAE run',
    call: () => start(scalarSpec({ sae: 'sae-20200101-000000-zzzz' })),
    says: /no SAE run 'sae-20200101-000000-zzzz'/,
  },
  {
    name: 'an LM run as the SAE run',
    call: () => start(scalarSpec({ sae: ids.failedLm })),
    says: /is not an SAE run \(it is a lm run\)/,
  },
  {
    name: 'a failed SAE run',
    call: () => start(scalarSpec({ sae: ids.failedSae })),
    says: /SAE run .* is failed; only completed SAE runs can be used/,
  },
  {
    name: 'an SAE run whose weights hold NaN',
    call: () => start(scalarSpec({ sae: ids.nanSae })),
    says: /checkpoint blocks\.0\.hook_mlp_out holds NaN in .*W_dec|holds NaN/,
  },
  {
    name: 'an SAE run with a checkpoint missing',
    call: () => start(scalarSpec({ sae: ids.missingSae })),
    says: /has no checkpoint for blocks\.1\.hook_mlp_out/,
  },
  {
    name: 'an SAE run with k = 513 > 512 latents',
    call: () => start(scalarSpec({ sae: ids.bigKSae })),
    says: /keeps k = 513 latents of SAEs with only 512/,
  },
  {
    name: 'latent statistics of an unknown SAE run',
    call: () => service.call('latents.compute', { run: 'sae-20200101-000000-zzzz' }),
    says: /sae-20200101-000000-zzzz/,
  },
]);

group('SAELens folders (saes.import)', () => [
  {
    name: 'a source that does not exist',
    call: () => importSaes(p('none')),
    says: /cannot import .*none: .* is not a folder/,
  },
  {
    name: 'a source that is a file',
    call: () => importSaes(p('corpora', 'empty.txt')),
    says: /is not a folder/,
  },
  {
    name: 'an empty folder',
    call: () => importSaes(fs.mkdtempSync(p('empty-'))),
    says: /holds no SAELens folders/,
  },
  {
    name: 'one hook folder missing',
    call: () => importSaes(saeSet((h) => fs.rmSync(h, { recursive: true }))),
    says: /are not one complete setup of this 2-layer model/,
  },
  {
    name: 'weights without cfg.json',
    call: () => importSaes(saeSet((h) => fs.rmSync(path.join(h, 'cfg.json')))),
    says: /blocks\.0\.hook_mlp_out has sae_weights\.safetensors but no cfg\.json/,
  },
  {
    name: 'cfg.json that is not JSON',
    call: () => importSaes(saeSet((h) => setCfg(h, '{"d_in": 16,'))),
    says: /cfg\.json of blocks\.0\.hook_mlp_out is not valid JSON/,
  },
  {
    name: 'cfg.json holding null',
    call: () => importSaes(saeSet((h) => setCfg(h, 'null'))),
    says: /cfg\.json of blocks\.0\.hook_mlp_out must hold a JSON object \(got null\)/,
  },
  {
    name: 'cfg.json holding a list',
    call: () => importSaes(saeSet((h) => setCfg(h, '[]'))),
    says: /cfg\.json of blocks\.0\.hook_mlp_out must hold a JSON object \(got an empty list\)/,
  },
  {
    name: 'no hook_name',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), hook_name: undefined }))),
    says: /'hook_name' is required in cfg\.json of blocks\.0\.hook_mlp_out/,
  },
  {
    name: 'hook_name a number',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), hook_name: 5 }))),
    says: /'hook_name' must be text \(got 5\) in cfg\.json of blocks\.0\.hook_mlp_out/,
  },
  {
    name: 'd_in not the model width',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), d_in: 32 }))),
    says: /d_in 32 does not match the language model's d_model 16/,
  },
  {
    name: 'd_in as text',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), d_in: '16' }))),
    says: /'d_in' must be an integer ≥ 1 \(got '16'\) in cfg\.json of blocks\.0\.hook_mlp_out/,
  },
  {
    name: 'd_sae 0',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), d_sae: 0 }))),
    says: /'d_sae' must be an integer ≥ 1 \(got 0\) in cfg\.json of blocks\.0\.hook_mlp_out/,
  },
  {
    name: 'd_sae 2.5',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), d_sae: 2.5 }))),
    says: /'d_sae' must be an integer ≥ 1 \(got 2\.5\)/,
  },
  {
    name: 'k 2.5',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), k: 2.5 }))),
    says: /'k' must be an integer ≥ 1 \(got 2\.5\) in cfg\.json of blocks\.0\.hook_mlp_out/,
  },
  {
    name: 'k 0',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), k: 0 }))),
    says: /'k' must be an integer ≥ 1 \(got 0\) in cfg\.json/,
  },
  {
    name: 'k -3',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), k: -3 }))),
    says: /'k' must be an integer ≥ 1 \(got -3\) in cfg\.json/,
  },
  {
    name: 'k larger than d_sae',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), k: 17, activation_fn_kwargs: { k: 17 } }))),
    says: /'k' must be ≤ d_sae \(16\) \(got 17\) in cfg\.json of blocks\.0\.hook_mlp_out/,
  },
  {
    name: 'no k at all',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), k: undefined, activation_fn_kwargs: {} }))),
    says: /gives no TopK k/,
  },
  {
    name: 'a JumpReLU SAE among TopK SAEs',
    call: () =>
      importSaes(
        saeSet((h) =>
          setCfg(h, {
            ...cfgOf(h),
            architecture: 'jumprelu',
            activation_fn_str: 'relu',
            activation_fn_kwargs: {},
          }),
        ),
      ),
    says: /mix activations \(blocks\.0\.hook_mlp_out: jumprelu, blocks\.0\.ln2\.hook_normalized: topk/,
  },
  {
    name: 'a gated SAE by its cfg.json',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), architecture: 'gated' }))),
    says: /is a gated SAE/,
  },
  {
    name: 'a threshold tensor in a TopK SAE',
    call: () =>
      importSaes(
        saeSet((h) =>
          setWeights(h, {
            ...goodWeights(),
            threshold: { dtype: 'F32', shape: [16], data: new Float32Array(16) },
          }),
        ),
      ),
    says: /has a 'threshold' tensor in sae_weights\.safetensors, but its cfg\.json describes a TopK SAE/,
  },
  {
    name: 'normalised activations',
    call: () =>
      importSaes(
        saeSet((h) => setCfg(h, { ...cfgOf(h), normalize_activations: 'expected_average_only_in' })),
      ),
    says: /normalize_activations 'expected_average_only_in' cannot be honoured/,
  },
  {
    name: 'a per-head SAE',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), hook_head_index: 3 }))),
    says: /per-head SAEs/,
  },
  {
    name: 'different k across folders',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), k: 5, activation_fn_kwargs: { k: 5 } }))),
    says: /need one TopK k \(found 4, 5\)/,
  },
  {
    name: 'different d_sae across folders',
    call: () =>
      importSaes(saeSet((h) => (setCfg(h, { ...cfgOf(h), d_sae: 8 }), setWeights(h, saeTensors(8, 3))))),
    says: /need one d_sae \(found 8, 16\)/,
  },
  {
    name: 'two folders for one hook',
    call: () => importSaes(saeSet((h, root) => fs.cpSync(h, path.join(root, 'copy'), { recursive: true }))),
    says: /two SAEs for blocks\.0\.hook_mlp_out/,
  },
  {
    name: 'an unknown architecture in our block',
    call: () =>
      importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), scalar: { arch: 'sigmoid', setup: 'fflayer' } }))),
    says: /'scalar\.arch' must be one of topk,.* \(got 'sigmoid'\) in cfg\.json/,
  },
  {
    name: 'apply_b_dec_to_input as text',
    call: () => importSaes(saeSet((h) => setCfg(h, { ...cfgOf(h), apply_b_dec_to_input: 'yes' }))),
    says: /'apply_b_dec_to_input' must be true or false \(got 'yes'\)/,
  },
  {
    name: 'cfg.json without weights',
    call: () => importSaes(saeSet((h) => fs.rmSync(weightsFile(h)))),
    says: /blocks\.0\.hook_mlp_out has cfg\.json but no sae_weights\.safetensors/,
  },
  {
    name: 'weights that are a folder',
    call: () => importSaes(saeSet((h) => (fs.rmSync(weightsFile(h)), fs.mkdirSync(weightsFile(h))))),
    says: /sae_weights\.safetensors of blocks\.0\.hook_mlp_out is not a file/,
  },
  {
    name: 'an empty weights file',
    call: () => importSaes(saeSet((h) => fs.writeFileSync(weightsFile(h), ''))),
    says: /file is 0 bytes, shorter than the 8-byte header length prefix/,
  },
  {
    name: 'a truncated weights file',
    call: () => importSaes(saeSet((h) => fs.truncateSync(weightsFile(h), 900))),
    says: /end past the .*data buffer \(file truncated\?\)/,
  },
  {
    name: 'a header length beyond 100 MB',
    call: () =>
      importSaes(
        saeSet((h) => fs.writeFileSync(weightsFile(h), withHeader('{}', new Uint8Array(), 2n ** 40n))),
      ),
    says: /exceeds the 100 MB limit/,
  },
  {
    name: 'a header length past the end',
    call: () =>
      importSaes(saeSet((h) => fs.writeFileSync(weightsFile(h), withHeader('{}', new Uint8Array(), 4096n)))),
    says: /runs past the end of the/,
  },
  {
    name: 'a header that is not JSON',
    call: () =>
      importSaes(saeSet((h) => fs.writeFileSync(weightsFile(h), withHeader('{"W_enc": ', new Uint8Array())))),
    says: /header \(\d+ bytes\) is not valid JSON/,
  },
  {
    name: 'a header that is not UTF-8',
    call: () =>
      importSaes(
        saeSet((h) =>
          fs.writeFileSync(
            weightsFile(h),
            withHeader(Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d), new Uint8Array()),
          ),
        ),
      ),
    says: /is not valid UTF-8/,
  },
  {
    name: 'a header that is a list',
    call: () =>
      importSaes(saeSet((h) => fs.writeFileSync(weightsFile(h), withHeader('[1,2]', new Uint8Array())))),
    says: /header must be a JSON object, got an array/,
  },
  {
    name: 'a missing W_dec',
    call: () =>
      importSaes(
        saeSet((h) =>
          setWeights(h, Object.fromEntries(Object.entries(goodWeights()).filter(([n]) => n !== 'W_dec'))),
        ),
      ),
    says: /tensor 'W_dec' not found .* in sae_weights\.safetensors of blocks\.0\.hook_mlp_out/,
  },
  {
    name: 'a W_enc of the wrong shape',
    call: () =>
      importSaes(
        saeSet((h) =>
          setWeights(h, {
            ...goodWeights(),
            W_enc: { dtype: 'F32', shape: [16, 12], data: new Float32Array(192) },
          }),
        ),
      ),
    says: /'W_enc': expected F32 \[16,16\], got F32 \[16,12\] in sae_weights\.safetensors of blocks\.0\.hook_mlp_out/,
  },
  {
    name: 'a W_enc in F64',
    call: () =>
      importSaes(
        saeSet((h) =>
          setWeights(h, {
            ...goodWeights(),
            W_enc: { dtype: 'F64', shape: [16, 16], data: new Float64Array(256) },
          }),
        ),
      ),
    says: /'W_enc': expected F32 \[16,16\], got F64/,
  },
  {
    name: 'an unknown dtype',
    call: () =>
      importSaes(saeSet((h) => editHeader(h, (hd) => ((hd.b_dec as { dtype: string }).dtype = 'F12')))),
    says: /tensor 'b_dec': unknown dtype "F12"/,
  },
  {
    name: 'data offsets with a gap',
    call: () =>
      importSaes(
        saeSet((h) =>
          editHeader(
            h,
            (hd) => {
              for (const e of Object.values(hd) as { data_offsets?: number[] }[])
                if (e.data_offsets) e.data_offsets = e.data_offsets.map((o) => o + 4);
            },
            new Uint8Array(4),
          ),
        ),
      ),
    says: /belong to no tensor \(gap\)/,
  },
  {
    name: 'data offsets that overlap',
    call: () =>
      importSaes(
        saeSet((h) =>
          editHeader(h, (hd) => {
            const t = Object.entries(hd).filter(([k]) => k !== '__metadata__') as [
              string,
              { data_offsets: number[] },
            ][];
            const second = t.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0])[1][1];
            second.data_offsets = [second.data_offsets[0] - 4, second.data_offsets[1] - 4];
          }),
        ),
      ),
    says: /overlap tensor/,
  },
  {
    name: 'trailing bytes',
    call: () => importSaes(saeSet((h) => fs.appendFileSync(weightsFile(h), Buffer.alloc(12)))),
    says: /12 trailing bytes after the last tensor's data/,
  },
  {
    name: 'NaN in W_enc',
    call: () =>
      importSaes(
        saeSet((h) => {
          const t = goodWeights();
          (t.W_enc.data as Float32Array)[12] = NaN;
          setWeights(h, t);
        }),
      ),
    says: /tensor 'W_enc' holds NaN at index 12 in sae_weights\.safetensors of blocks\.0\.hook_mlp_out; SAE weights must all be finite/,
  },
  {
    name: 'Infinity in b_dec',
    call: () =>
      importSaes(
        saeSet((h) => {
          const t = goodWeights();
          (t.b_dec.data as Float32Array)[3] = Infinity;
          setWeights(h, t);
        }),
      ),
    says: /tensor 'b_dec' holds Infinity at index 3/,
  },
  {
    name: '-Infinity in W_dec',
    call: () =>
      importSaes(
        saeSet((h) => {
          const t = goodWeights();
          (t.W_dec.data as Float32Array)[0] = -Infinity;
          setWeights(h, t);
        }),
      ),
    says: /tensor 'W_dec' holds -Infinity at index 0/,
  },
  {
    name: 'staircase positions that are not slices of one dictionary',
    call: () => {
      const root = writeStaircase(p('saes', 'stair'));
      // Position 1 gets weights of its own: its first latents no longer repeat position 0's.
      const h = path.join(root, 'blocks.1.hook_resid_pre');
      setWeights(h, saeTensors(cfgOf(h).d_sae, 99));
      return importSaes(root);
    },
    says: /latent 0 of blocks\.1\.hook_resid_pre differs from latent 0 of blocks\.0\.hook_resid_pre: these folders are not slices of one staircase dictionary/,
  },
  {
    name: 'an LM that does not exist',
    call: () => importSaes(saeSet(), p('no-lm')),
    says: /cannot find language model/,
  },
]);

group('ids, requests and settings', () => [
  {
    name: 'resume an unknown run',
    call: () => service.call('jobs.resume', { id: 'lm-20200101-000000-zzzz' }),
    says: /Run lm-20200101-000000-zzzz not found/,
  },
  {
    name: 'resume a completed run',
    call: () => service.call('jobs.resume', { id: ids.sae }),
    says: /is completed; only failed, cancelled or interrupted runs can be resumed/,
  },
  {
    name: 'cancel an unknown run',
    call: () => service.call('jobs.cancel', { id: 'x-1' }),
    says: /Run x-1 not found/,
  },
  {
    name: 'cancel a completed run',
    call: () => service.call('jobs.cancel', { id: ids.sae }),
    says: /is completed; only queued or running runs can be cancelled/,
  },
  {
    name: 'reorder an unknown run',
    call: () => service.call('jobs.reorder', { id: 'x-2', index: 0 }),
    says: /x-2/,
  },
  {
    name: 'get an unknown run',
    call: () => service.call('runs.get', { id: 'x-3' }),
    says: /Run x-3 not found/,
  },
  {
    name: 'delete an unknown run',
    call: () => service.call('runs.delete', { ids: ['x-4'] }),
    says: /Run x-4 not found/,
  },
  {
    name: 'a pipeline on a missing LM',
    call: () => service.call('pipelines.start', { config: { preset: 'quick', lm: p('no-lm') } }),
    says: /cannot find language model/,
  },
  {
    name: 'a pipeline with seeds 0',
    call: () =>
      service.call('pipelines.start', { config: { preset: 'quick', lm: lmDir, seeds: 0 } } as never),
    says: /parameter 'config\.seeds' must be an integer ≥ 1 \(got 0\)/,
  },
  {
    name: 'concurrency 0',
    call: () => service.call('settings.set', { concurrency: 0 }),
    says: /^parameter 'concurrency' must be an integer from 1 to 8 \(got 0\)$/,
  },
  {
    name: 'a run list of 0 rows',
    call: () => service.call('runs.list', { limit: 0 }),
    says: /^parameter 'limit' must be an integer from 1 to 1000 \(got 0\)$/,
  },
  {
    name: 'a run status that does not exist',
    call: () => service.call('runs.list', { status: 'done' as never }),
    says: /parameter 'status' must be one of queued, running, completed, failed, cancelled, interrupted \(got 'done'\)/,
  },
]);

group('bundles and uploads', () => [
  {
    name: 'import a bundle that does not exist',
    call: () => service.call('bundles.import', { path: p('none.zip') }),
    says: /bundle .*none\.zip not found/,
  },
  {
    name: 'import a folder as a bundle',
    call: () => service.call('bundles.import', { path: p('corpora') }),
    says: /corpora/,
  },
  {
    name: 'import an empty file as a bundle',
    call: () => service.call('bundles.import', { path: write(p('b', 'empty.zip'), '') }),
    says: /truncated or not a zip file/,
  },
  {
    name: 'import a text file as a bundle',
    call: () => service.call('bundles.import', { path: write(p('b', 'notes.zip'), TEXT) }),
    says: /truncated or not a zip file/,
  },
  {
    name: 'import half a zip',
    call: () =>
      service.call('bundles.import', {
        path: write(p('b', 'half.zip'), Buffer.concat([Buffer.from('PK\u0003\u0004'), Buffer.alloc(200)])),
      }),
    says: /truncated or not a zip file|corrupt/,
  },
  {
    name: 'upload a UTF-16 corpus',
    call: () =>
      upload(
        'corpus',
        'notes16.txt',
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(TEXT, 'utf16le')]),
      ),
    says: /'notes16\.txt' cannot be used as a corpus: Corpus file is UTF-16 text/,
  },
  {
    name: 'upload a Latin-1 corpus',
    call: () => upload('corpus', 'latin.txt', Buffer.from('naïve façade '.repeat(300), 'latin1')),
    says: /'latin\.txt' cannot be used as a corpus: .*not valid UTF-8/,
  },
  {
    name: 'upload an empty corpus',
    call: () => upload('corpus', 'empty.txt', ''),
    says: /the uploaded corpus 'empty\.txt' is empty/,
  },
  {
    name: 'upload a corpus larger than the limit',
    call: () => upload('corpus', 'big.txt', 'a', 65 * 2 ** 20),
    says: /uploads of a corpus are limited to 64 MiB/,
  },
  {
    name: 'upload a bundle that is not a zip',
    call: () => upload('bundle', 'b.zip', TEXT),
    says: /'b\.zip' is not a zip file, so it cannot be a run bundle/,
  },
]);

beforeAll(() => {
  tmp = makeTempDir('scalar-badinput-');
  service = new ScalarService({ dataDir: p('data'), mode: 'cli', autoLatentStats: false });
  store = service.store;
  lmDir = writeLm(p('lm'));
  goodCorpus = write(p('corpora', 'good.txt'), TEXT);
  const failedLm = store.createRun({
    kind: 'lm',
    name: 'broken lm',
    config: { kind: 'train-lm', config: {} },
  });
  store.startRun(failedLm.id);
  store.failRun(failedLm.id, 'training loss became NaN at step 3');
  ids.failedLm = failedLm.id;
  ids.sae = seedSaeRun('good sae');
  ids.nanSae = seedSaeRun('nan sae', { poison: true });
  ids.missingSae = seedSaeRun('incomplete sae', { skip: 'blocks.1.hook_mlp_out' });
  ids.bigKSae = seedSaeRun('k 513', { width: 512, k: 513 });
  const failedSae = store.createRun({
    kind: 'sae',
    name: 'failed sae',
    config: { kind: 'train-sae', config: {} },
  });
  store.startRun(failedSae.id);
  store.failRun(failedSae.id, 'worker exited');
  ids.failedSae = failedSae.id;
});

afterAll(async () => {
  await service?.close();
  if (tmp) removeDir(tmp);
});

let total = 0;
for (const [title, make] of cases) {
  describe(title, () => {
    it('every case is refused with its reason in words, and the store is left as it was', async () => {
      const problems: string[] = [];
      for (const c of make()) {
        total++;
        const before = snapshot(store);
        let error: unknown = null;
        try {
          await c.call();
        } catch (err) {
          error = err;
        }
        if (!(error instanceof Error)) {
          problems.push(`${c.name}: was not refused`);
          continue;
        }
        const msg = error.message;
        if (!c.says.test(msg)) problems.push(`${c.name}: says "${msg}", expected ${c.says}`);
        try {
          expectReadable(msg);
        } catch (e) {
          problems.push(`${c.name}: ${(e as Error).message}`);
        }
        const after = snapshot(store);
        if (JSON.stringify(after) !== JSON.stringify(before))
          problems.push(`${c.name}: the store changed:\n${JSON.stringify(before)}\n${JSON.stringify(after)}`);
      }
      expect(problems).toEqual([]);
    });
  });
}

describe('after the whole corpus', () => {
  it('the service still answers, and nothing is queued or running', async () => {
    expect(total).toBeGreaterThan(100);
    const info = await service.call('system.info', {});
    expect(info.dataDir).toBe(store.dataDir);
    const queue = await service.call('jobs.queue', {});
    expect(queue).toMatchObject({ active: [], queued: [] });
  });

  it('a corpus with a few invalid UTF-8 bytes is accepted, with a warning and the file pinned', () => {
    const bytes = Buffer.concat([Buffer.from(TEXT), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(TEXT)]);
    const file = write(p('corpora', 'fewbad.txt'), bytes);
    const checked = preflightJob(lmSpec({ corpus: file }) as never, store);
    expect(checked.warnings).toEqual([
      expect.stringMatching(
        /^corpus .*fewbad\.txt: 2 ill-formed UTF-8 sequence\(s\) were replaced by U\+FFFD/,
      ),
    ]);
    expect(checked.inputs).toEqual([
      expect.objectContaining({
        role: 'corpus',
        path: file,
        bytes: bytes.length,
        note: expect.stringMatching(/ill-formed/),
      }),
    ]);
  });
});
