import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DATA_DIR_ENV,
  Store,
  dataDirLayout,
  defaultDataDir,
  prepareDataDir,
  resolveDataDir,
} from '../../src-main/store/index.ts';
import { makeTempDir, removeDir } from './store.helpers.ts';

describe('resolveDataDir', () => {
  const home = '/home/ada';

  it('prefers the explicit option over the environment and the default', () => {
    const env = { [DATA_DIR_ENV]: '/env/dir', XDG_DATA_HOME: '/xdg' };
    expect(resolveDataDir({ dataDir: '/explicit', env, platform: 'linux', homeDir: home })).toBe('/explicit');
    expect(resolveDataDir({ env, platform: 'linux', homeDir: home })).toBe('/env/dir');
    expect(resolveDataDir({ env: { XDG_DATA_HOME: '/xdg' }, platform: 'linux', homeDir: home })).toBe(
      '/xdg/scalar-workstation',
    );
  });

  it('ignores empty values', () => {
    const env = { [DATA_DIR_ENV]: '  ' };
    expect(resolveDataDir({ dataDir: '', env, platform: 'linux', homeDir: home })).toBe(
      '/home/ada/.local/share/scalar-workstation',
    );
  });

  it('resolves relative paths against the working directory and expands ~', () => {
    expect(resolveDataDir({ dataDir: 'runs/here', env: {} })).toBe(path.resolve('runs/here'));
    expect(resolveDataDir({ dataDir: '~/scalar', env: {}, homeDir: home })).toBe(
      path.resolve(home, 'scalar'),
    );
  });
});

describe('defaultDataDir', () => {
  it('follows XDG on Linux and ignores a relative XDG_DATA_HOME', () => {
    expect(defaultDataDir('linux', { XDG_DATA_HOME: '/data' }, '/home/ada')).toBe('/data/scalar-workstation');
    expect(defaultDataDir('linux', {}, '/home/ada')).toBe('/home/ada/.local/share/scalar-workstation');
    expect(defaultDataDir('linux', { XDG_DATA_HOME: 'rel' }, '/home/ada')).toBe(
      '/home/ada/.local/share/scalar-workstation',
    );
  });

  it('uses Application Support on macOS', () => {
    expect(defaultDataDir('darwin', {}, '/Users/ada')).toBe(
      '/Users/ada/Library/Application Support/scalar-workstation',
    );
  });

  it('uses %APPDATA% on Windows, with its usual location as fallback', () => {
    expect(defaultDataDir('win32', { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' }, 'C:\\Users\\ada')).toBe(
      'C:\\Users\\ada\\AppData\\Roaming\\scalar-workstation',
    );
    expect(defaultDataDir('win32', {}, 'C:\\Users\\ada')).toBe(
      'C:\\Users\\ada\\AppData\\Roaming\\scalar-workstation',
    );
  });
});

describe('prepareDataDir and Store.open', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = makeTempDir();
  });
  afterEach(() => removeDir(tmp));

  it('creates the directory with its artifact folder and names the database file', () => {
    const dir = path.join(tmp, 'nested', 'data');
    const layout = prepareDataDir({ dataDir: dir, env: {} });
    expect(layout).toEqual(dataDirLayout(dir));
    expect(layout.dbPath).toBe(path.join(dir, 'scalar.db'));
    expect(fs.statSync(layout.artifactsDir).isDirectory()).toBe(true);
  });

  it('opens <dir>/scalar.db', () => {
    const dir = path.join(tmp, 'fresh');
    const store = Store.open(dir);
    try {
      expect(store.dataDir).toBe(dir);
      expect(fs.existsSync(path.join(dir, 'scalar.db'))).toBe(true);
      expect(fs.existsSync(path.join(dir, 'artifacts'))).toBe(true);
    } finally {
      store.close();
    }
  });
});
