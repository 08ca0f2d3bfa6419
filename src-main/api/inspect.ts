/**
 * The New-run form's inspections of typed inputs (`models.inspect`, `textSets.inspect`) and the model folders
 * earlier runs used (listed by `models.list`). They resolve and read inputs as the jobs do (resolveLmRef, the
 * loader's config and header checks, the text-set reader), so the form shows the job's own message before submit.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LmInspection, ModelEntry, TextSetInspection } from '../../src-shared/api.ts';
import { describeLmFolder, inspectLmFolder } from '../engine/io/lmInspect.ts';
import { describeTextSet, inspectTextSet } from '../engine/text/textSetInspect.ts';
import { resolveLmRef } from '../jobs/lmRef.ts';
import { BUNDLED_PREFIX } from '../resources.ts';
import type { Store } from '../store/index.ts';

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function inspectLm(ref: string, store: Store): LmInspection {
  const source = ref.startsWith(BUNDLED_PREFIX) ? 'bundled' : store.getRun(ref) ? 'run' : 'folder';
  try {
    const info = inspectLmFolder(resolveLmRef(ref, store));
    return {
      ok: true,
      source,
      tokenizer: info.tokenizer === 'gpt2' ? 'gpt2' : 'character',
      description: describeLmFolder(info),
      params: info.params,
      error: null,
    };
  } catch (err) {
    return {
      ok: false,
      source: null,
      tokenizer: null,
      description: null,
      params: null,
      error: messageOf(err),
    };
  }
}

export function inspectTextSetSpec(spec: string): TextSetInspection {
  try {
    const info = inspectTextSet(spec);
    return {
      ok: true,
      kind: info.kind,
      files: info.files,
      bytes: info.bytes,
      streamedOnly: info.streamedOnly,
      description: describeTextSet(info),
      error: null,
    };
  } catch (err) {
    return {
      ok: false,
      kind: null,
      files: 0,
      bytes: 0,
      streamedOnly: false,
      description: null,
      error: messageOf(err),
    };
  }
}

/**
 * The model folders among the LM references runs used (absolute paths, not bundled, not run ids) that still hold
 * a config.json, as model entries; each described from its header when it reads cleanly.
 */
export function modelFolderEntries(refs: Iterable<string>, store: Store): ModelEntry[] {
  const seen = new Set<string>();
  const entries: ModelEntry[] = [];
  for (const ref of refs) {
    if (seen.has(ref) || ref.startsWith(BUNDLED_PREFIX) || !path.isAbsolute(ref) || store.getRun(ref))
      continue;
    seen.add(ref);
    const dir = ref.endsWith('.safetensors') ? path.dirname(ref) : ref;
    if (!fs.existsSync(path.join(dir, 'config.json'))) continue;
    let params: number | null = null;
    let config: Record<string, unknown> = {};
    try {
      const info = inspectLmFolder(ref);
      params = info.params;
      config = { ...info.config };
    } catch {
      // Listed anyway: picking it shows the loader's message.
    }
    entries.push({ ref, name: folderModelName(dir), source: 'folder', params, valLoss: null, config });
  }
  return entries;
}

/**
 * A model folder's name: the repository of a Hugging Face hub cache snapshot (`models--openai-community--gpt2/
 * snapshots/<hash>` → `openai-community/gpt2`), whose own name is a commit hash; else the folder's name.
 */
export function folderModelName(dir: string): string {
  const parts = path.resolve(dir).split(path.sep);
  const repo = parts.at(-3);
  if (parts.at(-2) === 'snapshots' && repo?.startsWith('models--'))
    return repo.slice('models--'.length).split('--').join('/');
  return path.basename(dir);
}
