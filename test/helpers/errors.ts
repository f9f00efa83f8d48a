// Catching an expected error in tests, so its class and message can be checked.
import { UserError } from '../../src/errors';

/** The UserError a promise rejects with (fails the test on any other outcome). */
export async function rejection(p: Promise<unknown>): Promise<UserError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  return e as UserError;
}

/** The error a call throws; a call that returns is a failure. */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}
