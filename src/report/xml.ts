// XML text and attribute escaping. XML 1.0 forbids most control characters even as entities, so
// they are removed (after ANSI escape sequences).
import { stripControl } from './model.js';

export function xmlText(s: string): string {
  return stripControl(s)
    .replace(/[\uD800-\uDFFF\uFFFE\uFFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

export function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}
