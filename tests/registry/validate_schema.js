// validate_schema.js SCHEMA DIR: validates every DIR/*.json with ajv against
// SCHEMA and prints each failure with ajv's instance path.  Files named
// "invalid__*" are registries the schema must REJECT.  Exit 1 on any surprise.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require(process.env.AJV_MODULE || 'ajv');
const [schemaPath, dir] = process.argv.slice(2);
const ajv = new Ajv({allErrors: true, strict: true, allowUnionTypes: true});
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
let failed = 0, checked = 0;
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
  const doc = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  const label = f.replace(/\.json$/, '').replace(/__/g, '/');
  checked++;
  const ok = validate(doc);
  if (label.startsWith('invalid/')) {
    if (ok) {
      failed++;
      console.log('FAIL ' + label + ': accepted, but it must be rejected');
    } else {
      console.log('ok   ' + label + ' rejected: ' + validate.errors[0].instancePath + ' ' +
                  validate.errors[0].message);
    }
  } else if (ok) {
    console.log('ok   ' + label);
  } else {
    failed++;
    for (const e of validate.errors)
      console.log('FAIL ' + label + ': ' + (e.instancePath || '/') + ' ' + e.message);
  }
}
console.log(checked + ' registries, ' + failed + ' invalid');
process.exit(failed || !checked ? 1 : 0);
