'use strict'
// caldo's public API. Each concept has its module in lib/.

const { open, Log } = require('./lib/log.js')
const { Producer } = require('./lib/producer.js')
const { Consumer } = require('./lib/consumer.js')
const { Table } = require('./lib/table.js')
const { serde } = require('./lib/serde.js')
const { CaldoError, CODES } = require('./lib/errors.js')
const { mirror } = require('./lib/mirror.js')

module.exports = { open, mirror, serde, Log, Producer, Consumer, Table, CaldoError, errorCodes: CODES }
