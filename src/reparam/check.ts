// A decision that says why when it says no: rules, the block validator and the matchers all answer so.
export type Check<P> = { readonly ok: true; readonly plan: P } | { readonly ok: false; readonly reason: string };

export const refuse = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

export const accept = <P>(plan: P): { ok: true; plan: P } => ({ ok: true, plan });
