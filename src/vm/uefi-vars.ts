// OVMF's variable store, read and appended to offline: how a Secure Boot VM gets our module
// certificate as a Machine Owner Key without MokManager's interactive reboot. shim reads MokList,
// a boot-services-only variable (the OS cannot write it, which is what makes it trustworthy), and
// mirrors it to MokListRT for the kernel; writing it into the VM's own copy of the flash is what
// physical access to a machine allows. Written by hand because nothing packaged here does it:
// virt-firmware (virt-fw-vars) is not in Debian 12, efitools' tools work on a running firmware,
// and no maintained npm package edits edk2 variable stores.
//
// Layout (edk2 MdeModulePkg VariableFormat.h, FirmwareVolumeHeader.h): a firmware volume header
// (`_FVH` at 40, its length at 48), then a VARIABLE_STORE_HEADER (the authenticated-variable
// GUID, Size, Format 0x5A, State 0xFE), then AUTHENTICATED_VARIABLE_HEADER records, each
// followed by its UTF-16 name and data and aligned to 4 bytes; free space is 0xFF.
import { readFile, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { UsageError, VexfsImageError } from '../errors.js';

/** edk2's gEfiAuthenticatedVariableGuid: the store format OVMF's Secure Boot builds use. */
export const AUTH_VARIABLE_STORE_GUID = 'aaf32c78-947b-439a-a180-2e144ec37792';
/** shim's vendor GUID (SHIM_LOCK_GUID): MokList, MokListX, MokSBState, ... */
export const SHIM_LOCK_GUID = '605dab50-e046-4300-abb6-3dd810dd8b23';
/** EFI_GLOBAL_VARIABLE: SecureBoot, PK, KEK, Boot####. */
export const EFI_GLOBAL_VARIABLE_GUID = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
/** EFI_CERT_X509_GUID: the signature type of an EFI_SIGNATURE_LIST holding one DER certificate. */
export const EFI_CERT_X509_GUID = 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072';

export const VAR_ATTR = Object.freeze({ NON_VOLATILE: 0x1, BOOTSERVICE_ACCESS: 0x2, RUNTIME_ACCESS: 0x4, TIME_BASED_AUTHENTICATED_WRITE_ACCESS: 0x20 });

const START_ID = 0x55aa;
/** Variable states (bits cleared as a write proceeds): only these two are live. */
const VAR_ADDED = 0x3f;
const VAR_ADDED_IN_DELETE_TRANSITION = 0x3e;
const VAR_DELETED = 0x3d;
const STORE_FORMATTED = 0x5a;
const STORE_HEALTHY = 0xfe;
const STORE_HEADER_BYTES = 28;
/** StartId, State, Reserved, Attributes, MonotonicCount, TimeStamp, PubKeyIndex, NameSize, DataSize, VendorGuid. */
const AUTH_VAR_HEADER_BYTES = 60;

export interface UefiVariable {
  name: string;
  guid: string;
  attributes: number;
  data: Buffer;
  /** Byte offset of the record's header in the file. */
  offset: number;
  state: number;
}

export interface VarStore {
  buf: Buffer;
  /** Where the first record starts and where the store (header included) ends. */
  firstRecord: number;
  storeEnd: number;
  /** Where free space starts (after the last record). */
  freeStart: number;
  /** Every record, deleted ones included (`live` says which count). */
  records: UefiVariable[];
}

const align4 = (n: number): number => (n + 3) & ~3;

/** A GUID's on-disk bytes: the first three fields little-endian, the rest as written. */
export function guidBytes(guid: string): Buffer {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(guid);
  if (!m) throw new Error(`not a GUID: ${guid}`);
  const b = Buffer.alloc(16);
  b.writeUInt32LE(parseInt(m[1]!, 16), 0);
  b.writeUInt16LE(parseInt(m[2]!, 16), 4);
  b.writeUInt16LE(parseInt(m[3]!, 16), 6);
  Buffer.from(m[4]! + m[5]!, 'hex').copy(b, 8);
  return b;
}

export function guidString(b: Buffer): string {
  const h = (n: number, w: number): string => n.toString(16).padStart(w, '0');
  const rest = b.subarray(8, 16).toString('hex');
  return `${h(b.readUInt32LE(0), 8)}-${h(b.readUInt16LE(4), 4)}-${h(b.readUInt16LE(6), 4)}-${rest.slice(0, 4)}-${rest.slice(4)}`;
}

export const isLive = (v: Pick<UefiVariable, 'state'>): boolean => v.state === VAR_ADDED || v.state === VAR_ADDED_IN_DELETE_TRANSITION;

/** Parses an OVMF variable-store flash image (OVMF_VARS*.fd); anything else is bad input. */
export function parseVarStore(buf: Buffer, what = 'variable store'): VarStore {
  const bad = (why: string): never => {
    throw new UsageError(`${what} is not an OVMF variable store with authenticated variables: ${why}`);
  };
  if (buf.length < 64 + STORE_HEADER_BYTES || buf.toString('latin1', 40, 44) !== '_FVH') bad('no firmware volume header (_FVH)');
  const fvHeaderLength = buf.readUInt16LE(48);
  const storeStart = fvHeaderLength;
  if (storeStart + STORE_HEADER_BYTES > buf.length) bad('firmware volume header runs past the end');
  const sig = guidString(buf.subarray(storeStart, storeStart + 16));
  if (sig !== AUTH_VARIABLE_STORE_GUID) bad(`store signature ${sig} (a store without authenticated variables cannot hold Secure Boot keys)`);
  const size = buf.readUInt32LE(storeStart + 16);
  if (buf[storeStart + 20] !== STORE_FORMATTED || buf[storeStart + 21] !== STORE_HEALTHY) bad('store is not formatted and healthy');
  const storeEnd = storeStart + size;
  if (storeEnd > buf.length) bad(`store size ${size} runs past the end of the file`);
  const firstRecord = align4(storeStart + STORE_HEADER_BYTES);
  const records: UefiVariable[] = [];
  let o = firstRecord;
  while (o + AUTH_VAR_HEADER_BYTES <= storeEnd && buf.readUInt16LE(o) === START_ID) {
    const nameSize = buf.readUInt32LE(o + 36);
    const dataSize = buf.readUInt32LE(o + 40);
    const nameAt = o + AUTH_VAR_HEADER_BYTES;
    const end = nameAt + nameSize + dataSize;
    if (nameSize < 2 || end > storeEnd) bad(`record at 0x${o.toString(16)} runs past the store`);
    records.push({
      name: buf.toString('utf16le', nameAt, nameAt + nameSize - 2),
      guid: guidString(buf.subarray(o + 44, o + 60)),
      attributes: buf.readUInt32LE(o + 4),
      data: Buffer.from(buf.subarray(nameAt + nameSize, end)),
      offset: o,
      state: buf[o + 2]!,
    });
    o = align4(end);
  }
  return { buf, firstRecord, storeEnd, freeStart: Math.min(o, storeEnd), records };
}

export function liveVariables(s: VarStore): UefiVariable[] {
  return s.records.filter(isLive);
}

export function findVariable(s: VarStore, name: string, guid: string): UefiVariable | undefined {
  return liveVariables(s).find((v) => v.name === name && v.guid === guid.toLowerCase());
}

/** The record's bytes (a plain, non-time-authenticated variable: zero count, time and key index). */
export function encodeVariable(name: string, guid: string, attributes: number, data: Buffer): Buffer {
  const nameBuf = Buffer.from(`${name}\0`, 'utf16le');
  const rec = Buffer.alloc(align4(AUTH_VAR_HEADER_BYTES + nameBuf.length + data.length), 0xff);
  rec.fill(0, 0, AUTH_VAR_HEADER_BYTES);
  rec.writeUInt16LE(START_ID, 0);
  rec[2] = VAR_ADDED;
  rec.writeUInt32LE(attributes, 4);
  rec.writeUInt32LE(nameBuf.length, 36);
  rec.writeUInt32LE(data.length, 40);
  guidBytes(guid).copy(rec, 44);
  nameBuf.copy(rec, AUTH_VAR_HEADER_BYTES);
  data.copy(rec, AUTH_VAR_HEADER_BYTES + nameBuf.length);
  return rec;
}

/**
 * Sets a variable in the store, in place: an existing live one of that name is marked deleted
 * (what the firmware does before it reclaims), the new record appended in the free space.
 * Refuses when the free space would be used up (the firmware could not reclaim it at boot).
 */
export function setVariable(s: VarStore, name: string, guid: string, attributes: number, data: Buffer): VarStore {
  if (attributes & VAR_ATTR.TIME_BASED_AUTHENTICATED_WRITE_ACCESS) {
    throw new VexfsImageError('E_UEFI_VARS', `${name}: time-authenticated variables need a signed payload; only plain variables are written offline`);
  }
  const rec = encodeVariable(name, guid, attributes, data);
  if (s.freeStart + rec.length > s.storeEnd) {
    throw new VexfsImageError('E_UEFI_VARS', `the variable store is full: ${name} needs ${rec.length} bytes, ${s.storeEnd - s.freeStart} are free`);
  }
  const old = findVariable(s, name, guid);
  if (old) s.buf[old.offset + 2] = VAR_DELETED;
  rec.copy(s.buf, s.freeStart);
  return parseVarStore(s.buf);
}

/** An EFI_SIGNATURE_LIST of X.509 certificates (one list each: X.509 entries differ in size). */
export function x509SignatureLists(certsDer: readonly Buffer[], owner = SHIM_LOCK_GUID): Buffer {
  return Buffer.concat(
    certsDer.map((der) => {
      const list = Buffer.alloc(28 + 16 + der.length);
      guidBytes(EFI_CERT_X509_GUID).copy(list, 0);
      list.writeUInt32LE(list.length, 16); // SignatureListSize
      list.writeUInt32LE(0, 20); // SignatureHeaderSize
      list.writeUInt32LE(16 + der.length, 24); // SignatureSize: owner GUID + certificate
      guidBytes(owner).copy(list, 28);
      der.copy(list, 44);
      return list;
    }),
  );
}

/** The certificates of an EFI_SIGNATURE_LIST sequence that are X.509 (DER), in order. */
export function parseX509SignatureLists(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let o = 0;
  while (o + 28 <= data.length) {
    const type = guidString(data.subarray(o, o + 16));
    const listSize = data.readUInt32LE(o + 16);
    const headerSize = data.readUInt32LE(o + 20);
    const sigSize = data.readUInt32LE(o + 24);
    if (listSize < 28 || o + listSize > data.length || sigSize < 16) throw new VexfsImageError('E_UEFI_VARS', `malformed EFI_SIGNATURE_LIST at ${o}`);
    if (type === EFI_CERT_X509_GUID) {
      for (let s = o + 28 + headerSize; s + sigSize <= o + listSize; s += sigSize) out.push(Buffer.from(data.subarray(s + 16, s + sigSize)));
    }
    o += listSize;
  }
  return out;
}

/** A certificate file (PEM or DER) as DER, or bad input naming the file. */
export function certificateDer(bytes: Buffer, what: string): Buffer {
  try {
    return new X509Certificate(bytes).raw;
  } catch (e) {
    throw new UsageError(`${what} is not an X.509 certificate (PEM or DER): ${(e as Error).message}`);
  }
}

/**
 * Copies an OVMF variable-store template to `out` with the certificates as shim's MokList
 * (non-volatile, boot services only: shim deletes a MokList that the OS could write, i.e. one
 * with the runtime attribute). MokListTrusted is deliberately not written: shim treats its
 * absence as "trust the MOK list" and then exports MokListTrustedRT, which Linux 6.1 needs
 * (security/integrity/platform_certs/machine_keyring.c) to put MOKs on the .machine keyring that
 * module verification uses; a MokListTrusted variable of any value turns that off.
 */
export async function writeVarsWithMok(template: string, out: string, certsDer: readonly Buffer[]): Promise<void> {
  const s = parseVarStore(await readFile(template), template);
  const next = certsDer.length ? setVariable(s, 'MokList', SHIM_LOCK_GUID, VAR_ATTR.NON_VOLATILE | VAR_ATTR.BOOTSERVICE_ACCESS, x509SignatureLists(certsDer)) : s;
  await writeFile(out, next.buf, { mode: 0o600 });
}
