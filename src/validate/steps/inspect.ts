// Validate step: what the image is (qemu-img info, with `check` for qcow2 and vmdk) and, with
// --checksum, its digest against its manifest. The session's overlay is then backed by it in that
// format: the one its extension names (.raw, .vhd = vpc, .vmdk), never a probed one.
import type { Step } from '../../pipeline/step.js';
import { sha256File } from '../../tools/hash.js';
import { checkImage, checkQcow2, formatFromName, imageInfo } from '../../tools/qemu-img.js';
import { ImageFailure, type ValidateContext } from '../context.js';

export const inspectStep: Step<ValidateContext> = {
  name: 'inspect',
  title: 'Inspect the image (qemu-img info/check)',
  async run(ctx, rt) {
    const { path } = ctx.target;
    let info;
    try {
      info = await imageInfo(path, { signal: rt.signal, logFile: rt.logFile }, formatFromName(path));
    } catch (e) {
      throw new ImageFailure('image unreadable', e instanceof Error ? e.message : String(e));
    }
    ctx.format = info.format;
    ctx.session.backing = { path, format: info.format };
    if (info.format === 'qcow2') {
      const problem = await checkQcow2(path, { signal: rt.signal, logFile: rt.logFile });
      if (problem) throw new ImageFailure('image unreadable', `qemu-img check ${path} failed (${problem})`);
    }
    if (info.format === 'vmdk') {
      try {
        await checkImage(path, 'vmdk', { signal: rt.signal, logFile: rt.logFile });
      } catch (e) {
        throw new ImageFailure('image unreadable', e instanceof Error ? e.message : String(e));
      }
    }
    if (ctx.opts.checksum) {
      ctx.sha256Before = await sha256File(path);
      const want = ctx.target.manifestSha256;
      if (want && want !== ctx.sha256Before) {
        throw new ImageFailure('image modified', `sha256 of ${path} is ${ctx.sha256Before}, but its manifest records ${want}`);
      }
    }
  },
};
