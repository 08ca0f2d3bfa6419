/** The functions exported by the AssemblyScript module (simd/index.ts); pointers are byte addresses. */
export interface KernelExports {
  attentionForward(
    qkv: number,
    out: number,
    stats: number,
    scores: number,
    B: number,
    T: number,
    H: number,
    hd: number,
    scale: number,
  ): void;
  attentionBackward(
    qkv: number,
    out: number,
    stats: number,
    dout: number,
    dqkv: number,
    scratch: number,
    B: number,
    T: number,
    H: number,
    hd: number,
    scale: number,
  ): void;
  geluForward(x: number, y: number, n: number): void;
  geluBackward(x: number, dy: number, dx: number, n: number): void;
  layerNormForward(
    x: number,
    gamma: number,
    beta: number,
    y: number,
    stats: number,
    N: number,
    D: number,
    eps: number,
  ): void;
  layerNormBackward(
    x: number,
    gamma: number,
    stats: number,
    dy: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    N: number,
    D: number,
  ): void;
  softmaxXentForward(
    logits: number,
    targets: number,
    rowStats: number,
    probs: number,
    N: number,
    V: number,
  ): void;
  softmaxXentBackward(
    probs: number,
    targets: number,
    dlogits: number,
    N: number,
    V: number,
    scale: number,
  ): void;
  embeddingForward(table: number, ids: number, y: number, N: number, D: number): void;
  embeddingBackward(ids: number, dy: number, dtable: number, N: number, V: number, D: number): void;
  transpose2d(x: number, y: number, R: number, C: number): void;
  columnSum(x: number, y: number, N: number, C: number): void;
  topkRows(xw: number, bEnc: number, relu: number, idx: number, val: number, N: number, F: number, k: number): void;
  sparseDecode(
    idx: number,
    val: number,
    wDec: number,
    bDec: number,
    x: number,
    xhat: number,
    err: number,
    N: number,
    k: number,
    D: number,
  ): void;
  topkSaeBackward(
    x: number,
    bDec: number,
    idx: number,
    val: number,
    xhat: number,
    wDec: number,
    wEncT: number,
    dWencT: number,
    dBenc: number,
    dWdec: number,
    dBdec: number,
    N: number,
    k: number,
    D: number,
    F: number,
    scale: number,
    detachBelow: number,
  ): void;
  jacobianPenalty(
    mode: number,
    idx1: number,
    val1: number,
    idx2: number,
    val2: number,
    rows: number,
    wFc: number,
    cT: number,
    skipT: number,
    g: number,
    norm: number,
    rstd: number,
    gamma: number,
    dRows: number,
    dCT: number,
    dSkipT: number,
    scratch: number,
    totalOut: number,
    N: number,
    k: number,
    D: number,
    M: number,
    F1: number,
    F2: number,
    coef: number,
  ): void;
  jacobianRows(
    mode: number, idx1: number, val1: number, g: number, norm: number, rstd: number, gamma: number,
    cT: number, wFc: number, wEncT: number, rows: number, scratch: number, N: number, k: number, D: number, M: number,
  ): void;
  igAccumulateLocal(
    S: number, N: number, k1: number, D: number, F0: number, F1: number, idx1: number, val1: number, rows: number, c: number,
    textbook: number, idx0: number, val0: number, k0: number, wDec0: number, out: number, scratch: number,
  ): void;
  igAccumulateBlock(
    S: number, B: number, T: number, H: number, D: number, F0: number, F1: number, k1: number,
    qkv: number, stats: number, attnO: number, yhat1: number, rstd1: number, gamma1: number, wO: number, wQkv: number,
    idx1: number, val1: number, rows: number, c: number,
    textbook: number, idx0: number, val0: number, k0: number, wDec0: number, out: number, scratch: number,
  ): void;
}
