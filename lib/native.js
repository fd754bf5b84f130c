'use strict'
// The only module that loads the addon. Everything native goes through here.

module.exports = require('./native/binding.js')
