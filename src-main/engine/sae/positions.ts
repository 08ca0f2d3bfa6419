/**
 * Where SAEs sit (SPEC §2) and the pairs SCALAR measures. A pair is (upstream SAE, downstream SAE) around a
 * segment: tblock pair l = block l; fflayer pair l = the MLP of block l; ffblock pair l = x ↦ x + MLP(LN2(x)).
 *
 * `layers` selects the blocks whose pairs a run trains (e.g. GPT-2's ffblock pairs at blocks 1, 6, 11); omitted,
 * every block. The hooks are those of the selected pairs, in forward order; a pair keeps its block index l.
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

/** The blocks a run trains: `layers` checked against the model (distinct, in range), sorted; all when omitted. */
export function selectedLayers(nLayer: number, layers?: readonly number[]): number[] {
  if (layers === undefined) return Array.from({ length: nLayer }, (_, l) => l);
  if (layers.length === 0) throw new Error('the list of blocks to train is empty: name at least one block');
  const seen = new Set<number>();
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= nLayer)
      throw new Error(
        `block ${l} does not exist: this model has ${nLayer} block${nLayer === 1 ? '' : 's'} (0–${nLayer - 1})`,
      );
    if (seen.has(l)) throw new Error(`block ${l} is named twice in the list of blocks to train`);
    seen.add(l);
  }
  return [...seen].sort((a, b) => a - b);
}

export function setupPositions(setup: SaeSetup, nLayer: number, only?: readonly number[]): SetupPositions {
  const layers = selectedLayers(nLayer, only);
  switch (setup) {
    case 'tblock': {
      // Pair l: the residual stream entering block l and the one leaving it (entering l + 1, or the final one).
      const at = (l: number) =>
        l < nLayer ? `blocks.${l}.hook_resid_pre` : `blocks.${nLayer - 1}.hook_resid_post`;
      const pairs = layers.map((l) => ({
        index: l,
        layer: l,
        up: at(l),
        down: at(l + 1),
        segment: 'block' as const,
      }));
      const hooks = [...new Set(pairs.flatMap((p) => [p.up, p.down]))];
      return { setup, hooks, pairs };
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
  layers?: readonly number[],
): { hook: string; width: number; group: string; position: number }[] {
  const { hooks, pairs } = setupPositions(setup, nLayer, layers);
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

/**
 * A model depth for which `setupPositions(setup, depth, layers)` names exactly `hooks` (a run's hooks in forward
 * order, as its summary lists them), for code that has a stored run but not its model: with every block, the
 * hooks give the depth; with chosen blocks, any depth past them names the same hooks unless the run ends at the
 * last block's resid_post (tblock).
 */
export function depthForHooks(setup: SaeSetup, hooks: string[], layers?: readonly number[]): number {
  if (!layers) return setup === 'tblock' ? hooks.length - 1 : hooks.length / 2;
  const post = hooks.map((h) => /^blocks\.(\d+)\.hook_resid_post$/.exec(h)).find((m) => m);
  if (setup === 'tblock' && post) return Number(post[1]) + 1;
  return Math.max(...layers) + (setup === 'tblock' ? 2 : 1);
}
