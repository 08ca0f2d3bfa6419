/**
 * The explorer's latent cap (drawCap.ts): the most top ranks whose edges, over every pair of the chain, touch at
 * most nodeCap latents — counted by hand on a small chain.
 */
import { describe, expect, it } from 'vitest';
import { ranksWithinNodes } from '../../src-renderer/views/circuit/drawCap.ts';
import type { ChainPair } from '../../src-renderer/views/circuit/graphModel.ts';

const pair = (up: number, i: number[], j: number[]): ChainPair =>
  ({
    label: `p${up}`,
    up,
    down: up + 1,
    edges: { i: Int32Array.from(i), j: Int32Array.from(j), loaded: i.length },
  }) as unknown as ChainPair;

describe('ranksWithinNodes', () => {
  // One pair, ranks → new nodes: r0 (0:1, 1:5) +2 = 2; r1 (0:1, 1:6) +1 = 3; r2 (0:2, 1:5) +1 = 4; r3 (0:3, 1:7) +2 = 6.
  const one = [pair(0, [1, 1, 2, 3], [5, 6, 5, 7])];

  it('cuts before the rank that passes the cap', () => {
    expect(ranksWithinNodes(one, 4, 2)).toBe(1);
    expect(ranksWithinNodes(one, 4, 3)).toBe(2);
    expect(ranksWithinNodes(one, 4, 5)).toBe(3);
    expect(ranksWithinNodes(one, 4, 6)).toBe(4);
  });

  it('keeps the top edge even when it alone passes the cap, and never exceeds n', () => {
    expect(ranksWithinNodes(one, 4, 1)).toBe(1);
    expect(ranksWithinNodes(one, 2, 100)).toBe(2);
  });

  it('counts a chain: a latent of the shared middle column is one node for both pairs', () => {
    // Pair 0: col 0 → col 1; pair 1: col 1 → col 2. Rank 0 touches (0:1) (1:5) and (1:5) (2:9): 3 nodes;
    // rank 1 adds (0:2) (1:6) and (1:7) (2:9): 3 more = 6.
    const chain = [pair(0, [1, 2], [5, 6]), pair(1, [5, 7], [9, 9])];
    expect(ranksWithinNodes(chain, 2, 3)).toBe(1);
    expect(ranksWithinNodes(chain, 2, 5)).toBe(1);
    expect(ranksWithinNodes(chain, 2, 6)).toBe(2);
  });
});
