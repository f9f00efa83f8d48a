// The execution providers a user can name. Kept apart from providers.ts so the command line can offer
// them as choices without loading the code that opens sessions.

export type EpChoice = 'cpu' | 'webgpu' | 'cuda' | 'tensorrt' | 'auto';
export type EpName = Exclude<EpChoice, 'auto'>;
export const EP_CHOICES: readonly EpChoice[] = ['cpu', 'webgpu', 'cuda', 'tensorrt', 'auto'];
/** The order `auto` tries, GPU first. */
export const AUTO_ORDER: readonly EpName[] = ['webgpu', 'cpu'];
