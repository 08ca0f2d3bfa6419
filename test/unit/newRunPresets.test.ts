/** The New run form's preset descriptions: parameter counts as the paper and the bundled model state them. */
import { expect, it } from 'vitest';
import { LM_PRESETS } from '../../src-shared/lm.ts';
import { gptParams, lmPresetSummary } from '../../src-renderer/views/new/presets.ts';

it('counts the toy GPT parameters as SPEC §1.1 does (216,448; DyT 216,452)', () => {
  expect(gptParams(LM_PRESETS['ascii-64x4'].model)).toBe(216_448);
  expect(gptParams(LM_PRESETS['ascii-64x4-dyt'].model)).toBe(216_452);
  expect(lmPresetSummary('ascii-64x4').model).toMatch(/^216k params · 4 layers × d 64/);
});
