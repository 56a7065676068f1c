// The JSON report: the ValidationReport object itself (shape documented in docs/report-format.md).
import type { ValidationReport } from './model.js';

export function renderJson(report: ValidationReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
