// Session step: a qcow2 overlay on the backing image. Writes go to the overlay; QEMU only ever
// opens the backing image read-only, so the image (or the cached base) is never changed. Every
// VM passes here, so here its backing chain is judged: nothing outside the image's directory
// (or the cache), no json:/protocol names, the format the caller was told.
import { join } from 'node:path';
import { checkImageChain, createOverlay } from '../../tools/qemu-img.js';
import type { Step } from '../../pipeline/step.js';
import type { HasSession } from '../session.js';

export const overlayStep: Step<HasSession> = {
  name: 'overlay',
  title: 'Throw-away overlay',
  async run({ session: s }, rt) {
    if (!s.backing) throw new Error('overlay: no backing image was set');
    const checked = await checkImageChain(s.backing.path, { format: s.backing.format, ...(s.opts.cacheDir ? { cacheDir: s.opts.cacheDir } : {}) }, { signal: rt.signal, logFile: rt.logFile });
    s.backing = { path: checked.path, format: checked.format };
    s.overlay = join(s.opts.dir, 'overlay.qcow2');
    await createOverlay(s.backing.path, s.overlay, {
      backingFormat: s.backing.format,
      ...(s.opts.diskSizeBytes !== undefined ? { sizeBytes: s.opts.diskSizeBytes } : {}),
      signal: rt.signal,
      logFile: rt.logFile,
    });
  },
};
