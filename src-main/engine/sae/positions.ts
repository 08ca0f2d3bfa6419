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
