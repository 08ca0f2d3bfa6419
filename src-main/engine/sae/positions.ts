/**
 * Where SAEs sit (SPEC §2) and the pairs SCALAR measures. A pair is (upstream SAE, downstream SAE) around a
 * segment: tblock pair l = block l; fflayer pair l = the MLP of block l; ffblock pair l = x ↦ x + MLP(LN2(x)).
 */
import type { SaeSetup } from '../../../src-shared/sae.ts';

export type Segment = 'block' | 'mlp' | 'ffblock';

export interface SaePair {
  index: number;
  layer: number;
  up: string;
  down: string;
  segment: Segment;
}

export interface SetupPositions {
  setup: SaeSetup;
  /** Hook names in forward order (TransformerLens names). */
  hooks: string[];
  pairs: SaePair[];
}

export function setupPositions(setup: SaeSetup, nLayer: number): SetupPositions {
  const layers = Array.from({ length: nLayer }, (_, l) => l);
  switch (setup) {
    case 'tblock': {
      const hooks = [
        ...layers.map((l) => `blocks.${l}.hook_resid_pre`),
        `blocks.${nLayer - 1}.hook_resid_post`,
      ];
      return {
        setup,
        hooks,
        pairs: layers.map((l) => ({
          index: l,
          layer: l,
          up: hooks[l],
          down: hooks[l + 1],
          segment: 'block',
        })),
      };
    }
    case 'fflayer': {
      const pairs = layers.map((l) => ({
        index: l,
        layer: l,
        up: `blocks.${l}.ln2.hook_normalized`,
        down: `blocks.${l}.hook_mlp_out`,
        segment: 'mlp' as const,
      }));
      return { setup, hooks: pairs.flatMap((p) => [p.up, p.down]), pairs };
    }
    case 'ffblock': {
      const pairs = layers.map((l) => ({
        index: l,
        layer: l,
        up: `blocks.${l}.hook_resid_mid`,
        down: `blocks.${l}.hook_resid_post`,
        segment: 'ffblock' as const,
      }));
      return { setup, hooks: pairs.flatMap((p) => [p.up, p.down]), pairs };
    }
  }
}

/**
 * The staircases of a setup (one over every tblock hook, one per ffblock layer) and the latents each hook's SAE
 * has: `width` for TopK and JSAE; `width`·(p+1) at staircase position p (`width`·P when tied-all).
 */
export function saeWidths(
  arch: string,
  setup: SaeSetup,
  width: number,
  nLayer: number,
): { hook: string; width: number; group: string; position: number }[] {
  const { hooks, pairs } = setupPositions(setup, nLayer);
  if (!arch.startsWith('staircase')) return hooks.map((hook) => ({ hook, width, group: hook, position: 0 }));
  const groups =
    setup === 'tblock'
      ? [{ name: 'staircase', hooks }]
      : pairs.map((p) => ({ name: `staircase${p.layer}`, hooks: [p.up, p.down] }));
  return groups.flatMap((g) =>
    g.hooks.map((hook, p) => ({
      hook,
      width: arch === 'staircase-tied-all' ? width * g.hooks.length : width * (p + 1),
      group: g.name,
      position: p,
    })),
  );
}
