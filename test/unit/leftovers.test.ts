/**
 * What killed processes leave behind is cleaned when the workstation starts (issue 13): half-written
 * checkpoints (`*.tmp-PID`) in the folders of stopped runs, unfinished bundle imports (`.bundle-import-PID-*`)
 * and cut-off uploads (`uploads/.upload-PID-*`). Files of a process that is still alive (another process
 * sharing the data dir) and of runs that did not stop are left alone; names without a process id (older
 * releases) go once they are an hour old.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScalarService } from '../../src-main/api/service.ts';
import { runArtifactsDir, Store } from '../../src-main/store/index.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

/** Above Linux's largest pid (2²²), so never a live process. */
const DEAD = 4_194_999;
/** The test runner's parent: alive for as long as this test runs, and not this process. */
const ALIVE = process.ppid;

let dir: string;
beforeEach(() => (dir = makeTempDir('scalar-leftovers-')));
afterEach(() => removeDir(dir));

const touch = (file: string, ageSeconds = 0) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'x');
  if (ageSeconds) {
    const t = new Date(Date.now() - ageSeconds * 1000);
    fs.utimesSync(file, t, t);
  }
  return file;
};

describe('start-up sweep', () => {
  it('removes what dead processes left and keeps what live processes and unstopped runs hold', async () => {
    const store = Store.open(dir);
    const stopped = store.createRun({ kind: 'lm', name: 'interrupted' });
    store.startRun(stopped.id, { ownerPid: DEAD, ownerHost: 'elsewhere' });
    const done = store.createRun({ kind: 'lm', name: 'completed' });
    store.startRun(done.id);
    store.finishRun(done.id, {});
    const runDir = runArtifactsDir(dir, stopped.id);
    const doneDir = runArtifactsDir(dir, done.id);
    const files = {
      deadTmp: touch(path.join(runDir, 'state.safetensors.tmp-' + DEAD)),
      deadNested: touch(path.join(runDir, 'best', 'model.safetensors.tmp-' + DEAD)),
      liveTmp: touch(path.join(runDir, 'state.safetensors.tmp-' + ALIVE)),
      ownTmp: touch(path.join(runDir, 'cfg.json.tmp-' + process.pid)),
      kept: touch(path.join(runDir, 'state.safetensors')),
      completedRunTmp: touch(path.join(doneDir, 'x.tmp-' + DEAD)),
      deadUpload: touch(path.join(dir, 'uploads', `.upload-${DEAD}-abcdef`)),
      liveUpload: touch(path.join(dir, 'uploads', `.upload-${ALIVE}-abcdef`)),
      oldUnnamedUpload: touch(path.join(dir, 'uploads', '.upload-0a1b2c3d4e5f'), 7200),
      newUnnamedUpload: touch(path.join(dir, 'uploads', '.upload-ffeeddccbbaa')),
      upload: touch(path.join(dir, 'uploads', '0123456789abcdef-notes.txt')),
      deadImport: touch(path.join(dir, `.bundle-import-${DEAD}-Xy12ab`, 'lm-1', 'best', 'model.safetensors')),
      liveImport: touch(path.join(dir, `.bundle-import-${ALIVE}-Zz98cd`, 'a')),
    };
    store.close();

    const service = new ScalarService({ dataDir: dir, mode: 'cli', autoLatentStats: false });
    try {
      expect(service.store.requireRun(stopped.id).status).toBe('interrupted');
      const exists = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, fs.existsSync(f)]));
      expect(exists).toEqual({
        deadTmp: false,
        deadNested: false,
        liveTmp: true,
        ownTmp: false, // this process's own pid at start-up belongs to a former process (containers)
        kept: true,
        completedRunTmp: true,
        deadUpload: false,
        liveUpload: true,
        oldUnnamedUpload: false,
        newUnnamedUpload: true,
        upload: true,
        deadImport: false,
        liveImport: true,
      });
      expect(fs.existsSync(path.join(dir, `.bundle-import-${DEAD}-Xy12ab`))).toBe(false);
    } finally {
      await service.close();
    }
  });
});
