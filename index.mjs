// caldo's ES-module entry: the same objects as the CommonJS entry (index.js),
// named one by one.
import caldo from './index.js'

export const { open, mirror, serde, Log, Producer, Consumer, Table, CaldoError, errorCodes } = caldo
export default caldo
