/** JSON from outside (a socket, a file, stdin) is `unknown` until checked: this is the one check that it is an object. */
export function isJsonObject(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw);
}
