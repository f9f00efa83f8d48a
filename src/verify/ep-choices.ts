// The execution providers a user can name. Kept apart from providers.ts so the command line can offer
// them as choices without loading the code that opens sessions.

export type EpChoice = 'cpu' | 'webgpu' | 'cuda' | 'tensorrt' | 'auto';
export type EpName = Exclude<EpChoice, 'auto'>;
export const EP_CHOICES: readonly EpChoice[] = ['cpu', 'webgpu', 'cuda', 'tensorrt', 'auto'];
/**
 * The GPU providers `auto` (the default) tries, in order, before it settles on the CPU: CUDA where its
 * provider libraries are installed, then WebGPU on a hardware adapter (never a software one).
 */
export const AUTO_ORDER: readonly EpName[] = ['cuda', 'webgpu'];
