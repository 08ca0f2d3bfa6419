/**
 * What we found while reproducing, checked again on every reproduction's own seeds — not the paper's claims, so
 * listed apart from them. JSAE (docs/jsae.md): its Jacobian penalty is paid for with the small `mlp_out`
 * reconstruction, and SCALAR against the model charges that reconstruction error at every budget; that is why
 * JSAE loses to TopK against the model in short schedules while it can win against the full circuit.
 */
import { has, pairedDiff, result, sae, type ClaimResult, type ReproduceInputs, type Test } from './claims.ts';

export function evaluateFindings(x: ReproduceInputs): ClaimResult[] {
  const jsae = sae(x, 'fflayer', 'jsae');
  const topk = sae(x, 'fflayer', 'topk');
  const tests: Test[] = [
    {
      label: 'mlp_out explained variance',
      quantity: 'mean EV of the hook_mlp_out SAEs, JSAE − TopK (paired per seed)',
      expect: { kind: 'sign', sign: -1 },
      values: pairedDiff(jsae, topk, (r) => r.mlpOutEv),
      published: null,
    },
    {
      label: 'compound ΔCE',
      quantity: 'compound CE increase, JSAE − TopK (nats, paired per seed)',
      expect: { kind: 'sign', sign: 1 },
      values: pairedDiff(jsae, topk, (r) => r.compoundCe),
      published: null,
    },
  ];
  const run = has(x, 'fflayer', 'jsae') && has(x, 'fflayer', 'topk');
  return [
    result(
      'jsae-reconstruction-cost',
      'Finding (docs/jsae.md): JSAE’s penalty costs the mlp_out reconstruction, which SCALAR against the model charges',
      'paired per seed at fflayer: the JSAE run’s mean hook_mlp_out explained variance and compound CE increase minus the TopK run’s; EV lower and ΔCE higher mean the penalty was paid for with reconstruction',
      tests,
      run ? null : 'TopK and JSAE at fflayer not trained by this reproduction (--setups)',
    ),
  ];
}
