// AssemblyScript entry point of the SIMD kernel module (compiled by ../compile.ts).
export { attentionForward, attentionBackward } from './attention';
export {
  geluForward, geluBackward, layerNormForward, layerNormBackward, softmaxXentForward, softmaxXentBackward,
  embeddingForward, embeddingBackward, transpose2d, columnSum,
} from './pointwise';
export { topkRows, sparseDecode, topkSaeBackward } from './sae';
export { jacobianPenalty } from './jacobian';
export { jacobianRows, igAccumulateLocal, igAccumulateBlock } from './attribution';
export { adamwStep } from './optim';
