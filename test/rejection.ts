/** The error a promise rejects with; the test fails if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection, got a result');
}

/** The error a synchronous call throws; the test fails if it returns. */
export function refusal(fn: () => unknown): Error & { code: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code: string };
  }
  throw new Error('expected a refusal');
}
