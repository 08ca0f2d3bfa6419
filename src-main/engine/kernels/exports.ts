/** The functions exported by the AssemblyScript module (simd/index.ts); pointers are byte addresses. */
export interface KernelExports {
  attentionForward(qkv: number, out: number, stats: number, scores: number, B: number, T: number, H: number, hd: number, scale: number): void;
  attentionBackward(qkv: number, out: number, stats: number, dout: number, dqkv: number, scratch: number, B: number, T: number, H: number, hd: number, scale: number): void;
  geluForward(x: number, y: number, n: number): void;
  geluBackward(x: number, dy: number, dx: number, n: number): void;
  layerNormForward(x: number, gamma: number, beta: number, y: number, stats: number, N: number, D: number, eps: number): void;
  layerNormBackward(x: number, gamma: number, stats: number, dy: number, dx: number, dgamma: number, dbeta: number, N: number, D: number): void;
  softmaxXentForward(logits: number, targets: number, rowStats: number, probs: number, N: number, V: number): void;
  softmaxXentBackward(probs: number, targets: number, dlogits: number, N: number, V: number, scale: number): void;
  embeddingForward(table: number, ids: number, y: number, N: number, D: number): void;
  embeddingBackward(ids: number, dy: number, dtable: number, N: number, V: number, D: number): void;
  transpose2d(x: number, y: number, R: number, C: number): void;
  columnSum(x: number, y: number, N: number, C: number): void;
}
