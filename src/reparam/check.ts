// A decision that says why when it says no: rules, the block validator and the matchers all answer so.
export type Check<P> = { readonly ok: true; readonly plan: P } | Refused;

/** No, and why; `notABlock` when the site is no block at all (a sum with no conv), not a block that cannot merge. */
export type Refused = { readonly ok: false; readonly reason: string; readonly notABlock?: true };

export const refuse = (reason: string, options: { readonly notABlock?: true } = {}): Refused => ({ ok: false, reason, ...options });

export const accept = <P>(plan: P): { ok: true; plan: P } => ({ ok: true, plan });
