import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeMarkup, xmlAttr } from '../../../src/report/xml.js';

test('escapeMarkup: entities for & < > " \', control characters and lone surrogates removed, real characters kept', () => {
  assert.equal(escapeMarkup(`a<b>&"c"'d'`), 'a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;');
  assert.equal(escapeMarkup('\x1b[31mred\x1b[0m\x00\x07 ok\nnext'), 'red ok\nnext');
  assert.equal(escapeMarkup('lone \uD800 high, lone \uDC00 low, \uFFFF'), 'lone  high, lone  low, ');
  assert.equal(escapeMarkup('pass ✅ 🚀 ü'), 'pass ✅ 🚀 ü');
});

test('xmlAttr: line breaks and tabs survive attribute-value normalisation', () => {
  assert.equal(xmlAttr('a\nb\tc "d"'), 'a&#10;b&#9;c &quot;d&quot;');
});
