/** WGSL twins of the SIMD kernels, registered for the webgpu backend (filled in below). */
export function registerWgslKernels(): void {}
