import type { PackageStream, PackageVerifier } from '../../firmware/package-stream.js';

/**
 * The verifier of plain images (no manifest, no signature): every byte is image, and the verdict
 * is always ok with the size. What the /5 instance uses when the application gives none.
 */
export const plainImageVerifier: PackageVerifier = {
  begin(): PackageStream {
    let size = 0;
    return {
      push(chunk) {
        size += chunk.length;
        return chunk;
      },
      end: () => ({ ok: true, facts: { size } }),
      // Every byte is image: resuming needs no header.
      checkpoint: () => new Uint8Array(0),
    };
  },
};
