// What an SPDX 2.3 JSON document must have (SPDX 2.3 spec, clauses 6-7 and 11: document creation
// information, package name/SPDXID/downloadLocation, relationships). Checked by hand because the
// official JSON schema is not available from any package registry this project can install from;
// CycloneDX, whose library ships its official schema, is validated against that schema instead.
const SPDX_ID = /^SPDXRef-[A-Za-z0-9.-]+$/;
const CREATOR = /^(Tool|Organization|Person): \S/;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function spdxProblems(doc: any): string[] {
  const p: string[] = [];
  const need = (ok: unknown, what: string): void => {
    if (!ok) p.push(what);
  };
  need(doc?.spdxVersion === 'SPDX-2.3', 'spdxVersion is SPDX-2.3');
  need(doc?.dataLicense === 'CC0-1.0', 'dataLicense is CC0-1.0');
  need(doc?.SPDXID === 'SPDXRef-DOCUMENT', 'SPDXID is SPDXRef-DOCUMENT');
  need(typeof doc?.name === 'string' && doc.name !== '', 'a document name');
  need(typeof doc?.documentNamespace === 'string' && /^[a-z][a-z0-9+.-]*:\/\/\S+$/.test(doc.documentNamespace) && !doc.documentNamespace.includes('#'), 'documentNamespace is a URI without #');
  need(typeof doc?.creationInfo?.created === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(doc.creationInfo.created), 'creationInfo.created is YYYY-MM-DDThh:mm:ssZ');
  need(Array.isArray(doc?.creationInfo?.creators) && doc.creationInfo.creators.length > 0 && doc.creationInfo.creators.every((c: unknown) => typeof c === 'string' && CREATOR.test(c)), 'creationInfo.creators: Tool:/Organization:/Person: entries');
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  for (const [i, pkg] of (Array.isArray(doc?.packages) ? doc.packages : [null]).entries()) {
    need(typeof pkg?.SPDXID === 'string' && SPDX_ID.test(pkg.SPDXID), `packages[${i}].SPDXID`);
    need(typeof pkg?.name === 'string' && pkg.name !== '', `packages[${i}].name`);
    need(typeof pkg?.downloadLocation === 'string' && pkg.downloadLocation !== '', `packages[${i}].downloadLocation`);
    if (pkg?.SPDXID) {
      need(!ids.has(pkg.SPDXID), `packages[${i}].SPDXID is unique`);
      ids.add(pkg.SPDXID);
    }
  }
  for (const [i, r] of (Array.isArray(doc?.relationships) ? doc.relationships : []).entries()) {
    need(ids.has(r?.spdxElementId) && typeof r?.relationshipType === 'string' && (ids.has(r?.relatedSpdxElement) || /^(NONE|NOASSERTION)$/.test(r?.relatedSpdxElement)), `relationships[${i}] links known elements`);
  }
  return p;
}
