/**
 * A positive integer from the environment (`_` allowed as a digit separator: 100_000), or
 * `fallback` when unset; anything else stops the bench with a message naming the variable.
 */
export function envInt(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value.replace(/_/g, ''));
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(value)}`);
  return parsed;
}
