// The one escaper for XML, HTML and SVG (JUnit, the HTML reports, the CI timeline). XML 1.0
// forbids most control characters even as entities, so they are removed (after ANSI escape
// sequences), as are lone surrogates and U+FFFE/U+FFFF; & < > " ' become entities, so the
// result is safe in text and in quoted attribute values of both XML and HTML.
import { stripControl } from './model.js';

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeMarkup(s: string): string {
  return stripControl(s)
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|[\uFFFE\uFFFF]/g, '')
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** An attribute value that keeps its line breaks and tabs (a parser would fold them to spaces). */
export function xmlAttr(s: string): string {
  return escapeMarkup(s).replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}
