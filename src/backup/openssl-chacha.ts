import { createCipheriv, createDecipheriv } from 'node:crypto';

/**
 * ChaCha20-Poly1305 (RFC 8439) as `@noble/ciphers/chacha.js` exports it, computed by node's OpenSSL. The age library
 * imports it in place of noble's JavaScript cipher (scripts/aliases.mjs swaps it in everywhere it runs): the same
 * bytes, but an encrypted backup then costs no optimising compiles of a JavaScript cipher on V8's threads (their
 * memory stayed in the process) and a fraction of the CPU. The age format (header, keys, STREAM) stays the library's.
 */
export function chacha20poly1305(key: Uint8Array, nonce: Uint8Array, aad?: Uint8Array) {
  const TAG = 16;
  return {
    /** The ciphertext followed by its 16-byte tag, in a new array of its own (callers reuse the plaintext's). */
    encrypt(plaintext: Uint8Array, output?: Uint8Array): Uint8Array {
      if (output) throw new Error('chacha20poly1305: output buffers are not supported');
      const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
      if (aad) c.setAAD(aad, { plaintextLength: plaintext.length });
      const body = c.update(plaintext);
      c.final();
      // Not a pooled Buffer: what noble returns, an array that shares its memory with nothing else.
      const out = new Uint8Array(body.length + TAG);
      out.set(body);
      out.set(c.getAuthTag(), body.length);
      return out;
    },
    /** The plaintext, in a new buffer; throws when the tag does not match (a wrong key or altered bytes). */
    decrypt(ciphertext: Uint8Array, output?: Uint8Array): Uint8Array {
      if (output) throw new Error('chacha20poly1305: output buffers are not supported');
      if (ciphertext.length < TAG) throw new Error('invalid ciphertext: shorter than its tag');
      const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
      if (aad) d.setAAD(aad, { plaintextLength: ciphertext.length - TAG });
      d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG));
      const out = d.update(ciphertext.subarray(0, ciphertext.length - TAG));
      d.final();
      return out;
    },
  };
}
