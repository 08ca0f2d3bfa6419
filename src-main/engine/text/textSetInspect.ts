/**
 * What a text-set spec names, for the New-run form: its kind, files and size, checked by reading the head of
 * the set through readTextSet, the reader the job streams with (so a missing path, an empty folder, a binary file
 * or a JSONL line without "text" near the start is the job's own error, before anything is submitted). Files
 * past the head are listed and sized but not read: the job reports a bad line there when it reaches it.
 */
import { statSync } from 'node:fs';
import { extname, resolve } from 'node:path';

import { readTextSet, textSetFiles } from './textSet.ts';

export type TextSetKind = 'builtin' | 'text' | 'jsonl' | 'folder';

export interface TextSetInfo {
  kind: TextSetKind;
  /** Absolute path ('' for the built-in set). */
  path: string;
  files: number;
  jsonlFiles: number;
  bytes: number;
  /** A folder or JSONL file is read as a stream only (an SAE run needs an activation buffer for it). */
  streamedOnly: boolean;
}

/** Characters read from the head of the set to check it (a few pieces of the job's reader). */
export const HEAD_CHARS = 1 << 20;

export function inspectTextSet(spec: string): TextSetInfo {
  const trimmed = spec.trim();
  const files = textSetFiles(trimmed);
  if (files.length === 0)
    return { kind: 'builtin', path: '', files: 0, jsonlFiles: 0, bytes: 0, streamedOnly: false };
  const p = resolve(trimmed.startsWith('file:') ? trimmed.slice('file:'.length) : trimmed);
  const folder = statSync(p).isDirectory();
  let chars = 0;
  for (const piece of readTextSet(trimmed, { readBytes: 64 * 1024 })) {
    chars += piece.text.length;
    if (chars >= HEAD_CHARS) break;
  }
  const jsonlFiles = files.filter((f) => extname(f) === '.jsonl').length;
  const bytes = files.reduce((a, f) => a + statSync(f).size, 0);
  const kind: TextSetKind = folder ? 'folder' : extname(p) === '.jsonl' ? 'jsonl' : 'text';
  return { kind, path: p, files: files.length, jsonlFiles, bytes, streamedOnly: kind !== 'text' };
}

export function formatBytes(b: number): string {
  if (b >= 1024 ** 3) return `${(b / 1024 ** 3).toFixed(1)} GiB`;
  if (b >= 1024 ** 2) return `${(b / 1024 ** 2).toFixed(1)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} bytes`;
}

/** "Folder · 14 files (12 plain text, 2 JSONL) · 3.4 MiB", "JSONL file · 812.0 KiB". */
export function describeTextSet(info: TextSetInfo): string {
  if (info.kind === 'builtin') return 'Built-in Brown corpus';
  if (info.kind !== 'folder')
    return `${info.kind === 'jsonl' ? 'JSONL file' : 'Text file'} · ${formatBytes(info.bytes)}`;
  const plain = info.files - info.jsonlFiles;
  const parts = [plain ? `${plain} plain text` : '', info.jsonlFiles ? `${info.jsonlFiles} JSONL` : ''];
  return `Folder · ${info.files} file${info.files === 1 ? '' : 's'} (${parts.filter(Boolean).join(', ')}) · ${formatBytes(info.bytes)}`;
}
