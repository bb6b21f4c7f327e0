// A stand-in for src/api's admit: apiVersion, kind and metadata.name are
// required, and a field named `bad` anywhere is refused.

import type { Admit, AdmissionError, AdmittedObject } from '../../../src/store/admission.ts';

export const fakeAdmit: Admit = (doc) => {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return { ok: false, errors: [{ path: '$', reason: 'Invalid', message: 'a manifest must be an object' }] };
  }
  const d = doc as Record<string, unknown>;
  const errors: AdmissionError[] = [];
  if (typeof d.apiVersion !== 'string') errors.push({ path: '$.apiVersion', reason: 'FieldValueRequired', message: 'apiVersion is required' });
  if (typeof d.kind !== 'string') errors.push({ path: '$.kind', reason: 'FieldValueRequired', message: 'kind is required' });
  const metadata = d.metadata as Record<string, unknown> | undefined;
  if (typeof metadata?.name !== 'string') errors.push({ path: '/metadata/name', reason: 'FieldValueRequired', message: 'metadata.name is required' });
  findBad(d, '$', errors);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, object: structuredClone(d) as AdmittedObject };
};

function findBad(value: unknown, path: string, errors: AdmissionError[]): void {
  if (typeof value !== 'object' || value === null) return;
  for (const [key, child] of Object.entries(value)) {
    const childPath = Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`;
    if (key === 'bad') errors.push({ path: childPath, reason: 'FieldValueForbidden', message: 'field "bad" is not allowed' });
    findBad(child, childPath, errors);
  }
}
