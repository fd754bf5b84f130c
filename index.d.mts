// Types of the ES-module entry (index.mjs): the named exports of index.d.ts, and
// the whole API as the default export.
export * from './index.js'
import * as caldo from './index.js'
export default caldo
