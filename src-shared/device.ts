/**
 * What computed a run: the job worker records `device` (one line) and, on the webgpu rung, `adapter` (the
 * WebGPU adapter: vendor, architecture, driver, native API) in the run's summary. These helpers read them back
 * for the UI (run page, System view) and the CLI, worded for the three cases a user meets: a GPU adapter, a
 * software adapter (a CPU rasteriser such as SwiftShader or llvmpipe: correct, not fast), and no adapter at all
 * (wasm / cpu / native TensorFlow, where `device` names the CPU or TensorFlow's GPU).
 */
import { z } from 'zod';

export const GpuAdapterSchema = z.object({
  vendor: z.string(),
  architecture: z.string(),
  device: z.string(),
  /** Dawn's adapter description: the driver and its version (e.g. "NVIDIA: 550.54.14"). */
  driver: z.string(),
  /** The native API Dawn drives (vulkan, metal, d3d12, opengles). */
  api: z.string(),
  /** A CPU rasteriser (SwiftShader, llvmpipe, WARP): correct, not fast. */
  software: z.boolean(),
  featureLevel: z.enum(['core', 'compatibility']),
});
export type GpuAdapter = z.infer<typeof GpuAdapterSchema>;

/** "nvidia hopper (NVIDIA H200)": vendor and architecture, with the device name when it adds something. */
export function adapterName(a: GpuAdapter): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || a.device || 'unknown adapter';
  return a.device && !name.includes(a.device) ? `${name} (${a.device})` : name;
}

/** One line for logs and the CLI: "nvidia hopper (NVIDIA H200), NVIDIA: 550.54.14, vulkan". */
export function describeAdapter(a: GpuAdapter): string {
  const api = `${a.api}${a.featureLevel === 'core' ? '' : ' compat'}`;
  return `${adapterName(a)}, ${a.driver || 'driver unknown'}, ${api}${a.software ? ', software adapter' : ''}`;
}

export interface ComputeDevice {
  backend: string | null;
  /** The recorded one-line device (GPU adapter or CPU), null when the run recorded none (older or unfinished). */
  device: string | null;
  adapter: GpuAdapter | null;
}

/** The device fields of a run summary (anything else is ignored). */
export function computeOf(backend: string | null, summary: unknown): ComputeDevice {
  const s = (summary ?? {}) as { device?: unknown; adapter?: unknown };
  const adapter = GpuAdapterSchema.safeParse(s.adapter);
  return {
    backend,
    device: typeof s.device === 'string' ? s.device : null,
    adapter: adapter.success ? adapter.data : null,
  };
}

/** A short label: the adapter and its driver, or the recorded CPU / device line. */
export function deviceLabel(c: ComputeDevice): string {
  if (c.adapter) {
    const a = c.adapter;
    return `${adapterName(a)} · driver ${a.driver || 'unknown'} · ${a.api}`;
  }
  if (c.device) return c.device;
  return c.backend ? 'device not recorded' : '—';
}

/** The full record, one fact a line (a tooltip, the CLI's detail). */
export function deviceDetail(c: ComputeDevice): string {
  if (!c.adapter) {
    const gpu = c.backend === 'tensorflow-gpu';
    return [
      c.device ?? 'device not recorded',
      gpu ? 'GPU through native TensorFlow (CUDA)' : 'no GPU adapter: computed on the CPU',
    ].join('\n');
  }
  const a = c.adapter;
  return [
    `vendor: ${a.vendor || '—'}`,
    `architecture: ${a.architecture || '—'}`,
    `device: ${a.device || '—'}`,
    `driver: ${a.driver || '—'}`,
    `API: ${a.api} (${a.featureLevel} feature level)`,
    ...(a.software ? ['software adapter: a CPU rasteriser, correct but slower than wasm'] : []),
  ].join('\n');
}

/** The CLI's --json fields. */
export function deviceJson(c: ComputeDevice): { device: string | null; adapter: GpuAdapter | null } {
  return { device: c.device, adapter: c.adapter };
}
