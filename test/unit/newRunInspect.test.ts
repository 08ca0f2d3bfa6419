/**
 * The New-run form's inspections (issue 12 item 7): a typed model folder described from its config.json and its
 * safetensors header only, or the loader's own error; a typed text set described from the text-set reader, or
 * its error; the Api methods refusing malformed params; model folders used by runs listed by `models.list`; a
 * JSONL upload checked line by line. Figures are computed here by hand from the shapes, not by the code tested.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { receiveUpload } from '../../src-main/api/files.ts';
import { folderModelName } from '../../src-main/api/inspect.ts';
import { ScalarService } from '../../src-main/api/service.ts';
import { describeLmFolder, inspectLmFolder, roundedCount } from '../../src-main/engine/io/lmInspect.ts';
import { defaultLmRef } from '../../src-main/jobs/lmRef.ts';
import { gpt2Weights, hfConfig, writeGpt2Folder, type Shape } from './gpt2.helpers.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

const TINY: Shape = { V: 50257, T: 128, D: 32, L: 12, H: 2, eps: 1e-5 };
const SMALL: Shape = { V: 50257, T: 1024, D: 768, L: 12, H: 12, eps: 1e-5 };

/** GPT-2 weights by hand: tied wte, wpe, per block 2 LNs + attention (3D² + 3D, D² + D) + MLP (4D² + 4D, 4D² + D), ln_f. */
function gpt2Params({ V, T, D, L }: Shape): number {
  const block = 2 * 2 * D + (3 * D * D + 3 * D) + (D * D + D) + (4 * D * D + 4 * D) + (4 * D * D + D);
  return V * D + T * D + L * block + 2 * D;
}

/**
 * A model.safetensors whose header describes every tensor of `s` in `dtype` and whose data is a hole (a sparse
 * file): GPT-2 Small's 124 M weights cost no disk, and only a reader of the header alone can describe it.
 */
function writeHeaderOnlyFolder(dir: string, s: Shape, dtype: 'F16' | 'F32'): void {
  fs.mkdirSync(dir, { recursive: true });
  const shapes: [string, number[]][] = [
    ['wte.weight', [s.V, s.D]],
    ['wpe.weight', [s.T, s.D]],
    ['ln_f.weight', [s.D]],
    ['ln_f.bias', [s.D]],
  ];
  for (let l = 0; l < s.L; l++)
    for (const [n, shape] of [
      ['ln_1.weight', [s.D]],
      ['ln_1.bias', [s.D]],
      ['attn.c_attn.weight', [s.D, 3 * s.D]],
      ['attn.c_attn.bias', [3 * s.D]],
      ['attn.c_proj.weight', [s.D, s.D]],
      ['attn.c_proj.bias', [s.D]],
      ['ln_2.weight', [s.D]],
      ['ln_2.bias', [s.D]],
      ['mlp.c_fc.weight', [s.D, 4 * s.D]],
      ['mlp.c_fc.bias', [4 * s.D]],
      ['mlp.c_proj.weight', [4 * s.D, s.D]],
      ['mlp.c_proj.bias', [s.D]],
    ] as [string, number[]][])
      shapes.push([`h.${l}.${n}`, shape]);
  const size = dtype === 'F16' ? 2 : 4;
  let offset = 0;
  const header: Record<string, unknown> = {};
  for (const [name, shape] of shapes) {
    const bytes = shape.reduce((a, d) => a * d, 1) * size;
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(dir, 'model.safetensors');
  fs.writeFileSync(file, Buffer.concat([prefix, json]));
  fs.truncateSync(file, 8 + json.length + offset);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(hfConfig(s)));
}

let tmp: string;
let service: ScalarService;
let tinyDir: string;
const p = (...parts: string[]) => path.join(tmp, ...parts);
const write = (file: string, text: string | Buffer) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
};

beforeAll(() => {
  tmp = makeTempDir('scalar-inspect-');
  service = new ScalarService({ dataDir: p('data'), mode: 'cli', autoLatentStats: false });
  tinyDir = writeGpt2Folder(p('gpt2-tiny'), TINY, gpt2Weights(TINY, 3));
});

afterAll(async () => {
  await service?.close();
  if (tmp) removeDir(tmp);
});

describe('models.inspect', () => {
  it('describes a tiny GPT-2 folder: blocks, width, params counted by hand, BPE vocabulary, dtype', async () => {
    const expected = gpt2Params(TINY);
    expect(expected).toBe(1_764_832);
    const r = await service.call('models.inspect', { ref: tinyDir });
    expect(r).toEqual({
      ok: true,
      source: 'folder',
      tokenizer: 'gpt2',
      description: 'GPT-2 · 12 blocks · d_model 32 · 1.8 M params · BPE vocabulary 50,257 · float32',
      params: expected,
      error: null,
    });
  });

  it("describes GPT-2 Small's shape (124 M, float16) from the header of a file whose data is never read", () => {
    const dir = p('gpt2-small-f16');
    writeHeaderOnlyFolder(dir, SMALL, 'F16');
    expect(gpt2Params(SMALL)).toBe(124_439_808); // HF's sum(p.numel()) for `gpt2`
    const info = inspectLmFolder(dir);
    expect(info.params).toBe(124_439_808);
    expect(describeLmFolder(info)).toBe(
      'GPT-2 · 12 blocks · d_model 768 · 124 M params · BPE vocabulary 50,257 · float16',
    );
  });

  it('describes a character-level model folder and a bundled model', async () => {
    const s: Shape = { V: 200, T: 16, D: 8, L: 2, H: 2, eps: 1e-5 };
    const dir = writeGpt2Folder(p('char'), s, gpt2Weights(s, 1));
    const r = await service.call('models.inspect', { ref: dir });
    expect(r.description).toBe(
      `Character-level GPT · 2 blocks · d_model 8 · ${roundedCount(gpt2Params(s))} params · character vocabulary 200 · float32`,
    );
    expect(roundedCount(gpt2Params(s))).toBe(String(200 * 8 + 16 * 8 + 2 * (12 * 64 + 13 * 8) + 16));
    const bundled = defaultLmRef();
    if (bundled) {
      const b = await service.call('models.inspect', { ref: bundled });
      expect(b).toMatchObject({ ok: true, source: 'bundled', tokenizer: 'character' });
    }
  });

  it("gives the loader's messages: no config.json, non-GPT-2 architecture, pytorch_model.bin only, wrong shape", async () => {
    const noConfig = p('no-config');
    fs.mkdirSync(noConfig, { recursive: true });
    const a = await service.call('models.inspect', { ref: noConfig });
    expect(a.ok).toBe(false);
    expect(a.error).toBe(
      `cannot find language model '${noConfig}': give a completed LM run id, resources:<name>, or a folder with config.json + model.safetensors`,
    );

    const llama = write(p('llama', 'config.json'), JSON.stringify({ model_type: 'llama', n_embd: 32 }));
    const b = await service.call('models.inspect', { ref: path.dirname(llama) });
    expect(b.error).toBe(
      `${llama} describes a 'llama' model ('model_type'); only GPT-2 checkpoints are supported (model_type "gpt2")`,
    );

    const pickle = p('pickle');
    write(path.join(pickle, 'config.json'), JSON.stringify(hfConfig(TINY)));
    write(path.join(pickle, 'pytorch_model.bin'), 'PK');
    const c = await service.call('models.inspect', { ref: pickle });
    expect(c.error).toMatch(
      new RegExp(
        `^${pickle} has pytorch_model.bin but no model.safetensors: PyTorch pickle files are not loaded`,
      ),
    );

    const narrow: Shape = { ...TINY, V: 300, D: 16 };
    const wrong = writeGpt2Folder(p('wrong-shape'), narrow, gpt2Weights(narrow, 2), {
      config: hfConfig({ ...narrow, D: 32 }),
    });
    const d = await service.call('models.inspect', { ref: wrong });
    expect(d.error).toBe(
      `${path.join(wrong, 'model.safetensors')}: tensor 'wte.weight': expected F32 [300,32], got F32 [300,16] (its shape does not match config.json)`,
    );
    const e = await service.call('models.inspect', { ref: 'lm-nosuchrun' });
    expect(e.error).toMatch(/^cannot find language model 'lm-nosuchrun'/);
  });

  it('refuses malformed params before anything is read', async () => {
    await expect(service.call('models.inspect', { ref: '' })).rejects.toThrow(/ref/);
    await expect(service.call('models.inspect', { ref: '   ' })).rejects.toThrow(/ref/);
    await expect(service.call('models.inspect', { ref: 5 as unknown as string })).rejects.toThrow(/ref/);
    await expect(service.call('models.inspect', {} as { ref: string })).rejects.toThrow(/ref/);
    await expect(service.call('textSets.inspect', { spec: 'x'.repeat(5000) })).rejects.toThrow(/spec/);
    await expect(service.call('textSets.inspect', { spec: null as unknown as string })).rejects.toThrow(
      /spec/,
    );
  });
});

describe('textSets.inspect', () => {
  it('describes a folder of text and JSONL files: kind, files, bytes', async () => {
    const a = write(p('set', 'a.txt'), 'The first document.\nIt has two lines.\n');
    const b = write(p('set', 'sub', 'b.md'), 'A second one, in markdown.\n');
    const c = write(p('set', 'c.jsonl'), '{"text":"one"}\n\n{"text":"two","id":2}\n');
    write(p('set', '.hidden.txt'), 'skipped');
    write(p('set', 'notes.csv'), 'skipped');
    const bytes = [a, b, c].reduce((s, f) => s + fs.statSync(f).size, 0);
    const r = await service.call('textSets.inspect', { spec: p('set') });
    expect(r).toEqual({
      ok: true,
      kind: 'folder',
      files: 3,
      bytes,
      streamedOnly: true,
      description: `Folder · 3 files (2 plain text, 1 JSONL) · ${bytes} bytes`,
      error: null,
    });
  });

  it('describes a JSONL file, a text file and the built-in set', async () => {
    const jsonl = write(p('one.jsonl'), '{"text":"a document"}\n');
    expect(await service.call('textSets.inspect', { spec: jsonl })).toMatchObject({
      ok: true,
      kind: 'jsonl',
      files: 1,
      streamedOnly: true,
      description: `JSONL file · ${fs.statSync(jsonl).size} bytes`,
    });
    const text = write(p('plain.txt'), 'x'.repeat(3 * 1024 * 1024));
    expect(await service.call('textSets.inspect', { spec: `file:${text}` })).toMatchObject({
      kind: 'text',
      streamedOnly: false,
      description: 'Text file · 3.0 MiB',
    });
    expect(await service.call('textSets.inspect', { spec: 'builtin:brown' })).toMatchObject({
      ok: true,
      kind: 'builtin',
      description: 'Built-in Brown corpus',
    });
  });

  it("gives the text-set reader's messages: missing, empty folder, binary, empty file, JSONL line without text", async () => {
    const err = async (spec: string) => (await service.call('textSets.inspect', { spec })).error;
    expect(await err(p('nowhere'))).toBe(`Text set not found: ${p('nowhere')}`);
    fs.mkdirSync(p('empty-dir'));
    write(p('empty-dir', 'data.csv'), 'a,b');
    expect(await err(p('empty-dir'))).toBe(
      `Folder ${p('empty-dir')} holds no text files (.txt, .text, .md as plain text, .jsonl with a "text" field)`,
    );
    const bin = write(p('bin.txt'), Buffer.from([65, 66, 0, 67]));
    expect(await err(bin)).toBe(
      `Text file looks binary, not text: it contains NUL bytes (the first at offset 2): ${bin}`,
    );
    const empty = write(p('empty.txt'), '');
    expect(await err(empty)).toBe(`Text set ${empty} holds no text`);
    const bad = write(p('bad.jsonl'), '{"text":"fine"}\n{"body":"no text here"}\n');
    expect(await err(bad)).toBe(`line 2 of ${bad} has no string field "text" (its fields: body)`);
    expect(await err('builtin:wiki')).toBe(
      'Unknown built-in text set "builtin:wiki"; available: builtin:brown',
    );
  });
});

describe('models.list', () => {
  it('lists a model folder an SAE run used, once, with its params; not a vanished one', async () => {
    const vanished = p('vanished');
    for (const lm of [tinyDir, tinyDir, vanished])
      service.store.createRun({
        kind: 'sae',
        name: 'on a folder',
        config: { kind: 'train-sae', config: { lm } },
      });
    const folders = (await service.call('models.list', {})).filter((m) => m.source === 'folder');
    expect(folders).toHaveLength(1);
    expect(folders[0]).toMatchObject({ ref: tinyDir, name: 'gpt2-tiny', params: gpt2Params(TINY) });
    expect(folders[0].config).toMatchObject({ nLayer: 12, dModel: 32 });
  });
});

describe('folderModelName', () => {
  it('names a hub cache snapshot by its repository, any other folder by its name', () => {
    expect(folderModelName('/h/hub/models--openai-community--gpt2/snapshots/607a30d')).toBe(
      'openai-community/gpt2',
    );
    expect(folderModelName('/h/hub/models--gpt2/snapshots/607a30d/')).toBe('gpt2');
    expect(folderModelName('/data/checkpoints/gpt2-small')).toBe('gpt2-small');
  });
});

describe('JSONL uploads', () => {
  it('keeps a JSONL upload as .jsonl and refuses one with a line without "text"', async () => {
    const dir = p('uploads-data');
    const ok = await receiveUpload(
      dir,
      'corpus',
      'docs.jsonl',
      Readable.from([Buffer.from('{"text":"hi"}\n')]),
      null,
    );
    expect(ok.name).toBe('docs.jsonl');
    expect(ok.path.endsWith('-docs.jsonl')).toBe(true);
    await expect(
      receiveUpload(dir, 'corpus', 'bad.jsonl', Readable.from([Buffer.from('{"text":"a"}\n[1,2]\n')]), null),
    ).rejects.toThrow(
      `'bad.jsonl' cannot be used as a corpus: line 2 of bad.jsonl has no string field "text" (it is not a JSON object)`,
    );
  });
});
