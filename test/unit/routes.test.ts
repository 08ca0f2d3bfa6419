/** Hash routes: what a pasted or bookmarked link opens, and the links views build. */
import { describe, expect, it } from 'vitest';
import { href, parseHash, runHref } from '../../src-renderer/lib/routes.ts';

describe('hash routes', () => {
  it('opens the run table by default and for unknown-free links', () => {
    expect(parseHash('')).toMatchObject({ view: 'runs', segments: [], raw: '/runs' });
    expect(parseHash('#/')).toMatchObject({ view: 'runs' });
    expect(parseHash('#/nope').view).toBe('not-found');
  });

  it('reads a run page id (decoded) and view parameters', () => {
    const r = parseHash('#/runs/sae-20261130-110740-dc1f');
    expect(r.view).toBe('run');
    expect(r.segments).toEqual(['sae-20261130-110740-dc1f']);
    const c = parseHash('#/circuit?run=scalar-1&pair=tblock%3A0&b=scalar-2&n=128');
    expect(c.view).toBe('circuit');
    expect(Object.fromEntries(c.params)).toEqual({
      run: 'scalar-1',
      pair: 'tblock:0',
      b: 'scalar-2',
      n: '128',
    });
    expect(parseHash('#/compare?runs=a,b,c').params.get('runs')).toBe('a,b,c');
    expect(parseHash('#/latents?run=x&hook=blocks.0.hook_resid_pre&id=7').view).toBe('latent');
  });

  it('builds links that parse back to the same view, leaving out empty values', () => {
    expect(href('/runs', { kind: 'sae', search: '', group: null, page: 2 })).toBe('#/runs?kind=sae&page=2');
    expect(runHref('lm-1')).toBe('#/runs/lm-1');
    const link = href('/circuit', { run: 'scalar-1', pair: 'tblock:0' });
    expect(Object.fromEntries(parseHash(link).params)).toEqual({ run: 'scalar-1', pair: 'tblock:0' });
  });
});
