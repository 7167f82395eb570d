// Loads insel's native addon (native/*.c, built by node-gyp at `npm install`
// into build/Release). No JavaScript fallback: a missing build must fail
// loudly, not run quietly at a fraction of the speed.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { InselError } from '../errors.js';

/** An AEAD context of the addon: one key and direction, freed by aeadFree or the GC. */
export type AeadContext = { readonly __brand: 'AeadContext' };

export interface Addon {
  aeadCreate(aead: string, key: Buffer, iv: Buffer, encrypt: boolean, integrity: boolean): AeadContext;
  aeadFree(ctx: AeadContext): void;
  /** Seals buf[headerLen, end) in place, AAD buf[0, headerLen) (integrity: buf[0, end)); returns end + tag. */
  aeadSeal(ctx: AeadContext, buf: Buffer, headerLen: number, end: number, counter: number): number;
  /** Opens buf in place; the plaintext length after headerLen, or -1 if forged or too short. */
  aeadOpen(ctx: AeadContext, buf: Buffer, headerLen: number, counter: number): number;
}

// dist/src/native/addon.js → the package root, where node-gyp writes build/.
const ADDON_PATH = fileURLToPath(new URL('../../../build/Release/insel.node', import.meta.url));

function load(): Addon {
  try {
    return createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (cause) {
    throw new InselError(
      'INSEL_NATIVE_MISSING',
      `insel's native addon did not load from ${ADDON_PATH}: run \`npm install\` (it builds native/ with node-gyp; needs g++, make and python3)`,
      { file: ADDON_PATH, cause },
    );
  }
}

export const addon: Addon = load();
