#!/usr/bin/env node
'use strict'
// The caldo command-line tool: topics, produce/consume like kcat, groups, offsets, dump, verify, ui, mirror.
// Exit codes: 0 success, 1 failure, 2 usage error. Errors are one line, never a stack trace.

const { Command } = require('commander')
const { UsageError, err, intArg, dateArg, numberArg } = require('../lib/cli/common.js')
const { topics, createTopic, alterTopic, clean, deleteRecords, deleteTopic, groups, group, resetOffsets, deleteGroup } = require('../lib/cli/admin.js')
const { produce, consume } = require('../lib/cli/records.js')
const { dump, verify } = require('../lib/cli/inspect.js')
const { ui } = require('../lib/cli/ui.js')
const { mirror, list } = require('../lib/cli/mirror.js')

// --- wiring -----------------------------------------------------------------

function program () {
  const prog = new Command('caldo')
    .description('Inspect and use a caldo log directory (--dir, else $CALDO_DIR, else ./.caldo-data)')
    .version(require('../package.json').version)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
  const cmd = (spec, description) => prog.command(spec).description(description)
    .option('-d, --dir <path>', 'the log directory (default: $CALDO_DIR, else ./.caldo-data)')
  const json = '--json'

  cmd('topics', 'list topics with their partitions, low/high offsets and bytes on disk')
    .option('--internal', 'include __consumer_offsets')
    .option('--config', 'one row per topic: its settings, log start per partition, bytes')
    .option(json, 'print JSON')
    .action(topics)
  // The settings create-topic and alter-topic take; values are checked by the engine.
  const settings = (c) => c
    .option('--segment-bytes <bytes>', 'roll segments at this size', intArg('segment bytes', 1))
    .option('--max-message-bytes <bytes>', 'largest record (key + value + headers)', intArg('max message bytes', 1))
    .option('--retention-ms <ms>', 'remove segments whose newest record is older (-1: keep forever; default 7 days)', numberArg('retention ms'))
    .option('--retention-bytes <bytes>', 'per partition: remove the oldest segments beyond this size (-1: no limit, the default)', numberArg('retention bytes'))
    .option('--segment-ms <ms>', 'roll the active segment once it is this old (default 7 days)', numberArg('segment ms'))
    .option('--cleanup-policy <policy>', "delete (default), compact (keeps everything for now) or 'compact,delete'")
    .option('--delete-retention-ms <ms>', 'for compaction: how long tombstones stay (default 1 day)', numberArg('delete retention ms'))
    .option('--min-compaction-lag-ms <ms>', 'for compaction: records younger are not compacted (default 0)', numberArg('min compaction lag ms'))
    .option('--min-cleanable-dirty-ratio <r>', 'for compaction: 0 to 1 (default 0.5)', numberArg('min cleanable dirty ratio'))
  settings(cmd('create-topic <name>', 'create a topic')
    .option('-p, --partitions <n>', 'number of partitions', intArg('partitions', 1), 1))
    .option(json, 'print the topic as JSON')
    .action(createTopic)
  settings(cmd('alter-topic <name>', "change a topic's settings (not its partitions); every process picks them up"))
    .option(json, 'print the topic as JSON')
    .action(alterTopic)
  cmd('clean', 'apply retention and compaction now: remove segments past retention-ms or retention-bytes, keep the last record of each key of compacted topics')
    .option(json, 'print JSON')
    .action(clean)
  cmd('delete-records <topic>', "move a partition's log start forward (like Kafka's DeleteRecords)")
    .argument('<partition>', 'partition number', intArg('partition'))
    .requiredOption('--before <offset>', 'the new log start', intArg('offset'))
    .option(json, 'print JSON')
    .action(deleteRecords)
  cmd('delete-topic <name>', 'delete a topic and its records').action(deleteTopic)
  cmd('produce <topic>', 'write one record per line of stdin (like kcat -P)')
    .option('-K, --key-separator <s>', 'split each line into key and value at the first <s>')
    .option('-p, --partition <n>', 'write to this partition (default: by key, else round-robin)', intArg('partition'))
    .action(produce)
  cmd('consume <topic>', 'print records (like kcat -C); stops at the end unless --follow')
    .option('-g, --group <id>', 'consume as a member of this group, committing what was printed')
    .option('--from-beginning', 'start at the earliest offset (a group: where it has no committed offset)')
    .option('-f, --follow', 'keep waiting for new records (Ctrl-C ends)')
    .option('-p, --partition <n>', 'only this partition', intArg('partition'))
    .option('-o, --offset <n>', 'start at this offset (with --partition)', intArg('offset'))
    .option('--from-time <iso>', 'start at the first record at or after this time (ISO-8601)', dateArg('--from-time'))
    .option('--isolation <level>', 'read_committed (default: up to the last stable offset, no aborted records) or read_uncommitted')
    .option('-c, --count <n>', 'stop after this many records', intArg('count', 1))
    .option('--format <fmt>', 'per record: %t topic %p partition %o offset %k key %s value %T timestamp %K/%S key/value length (default %s)')
    .option(json, 'one JSON object per record and line')
    .action(consume)
  cmd('groups', 'list consumer groups').option(json, 'print JSON').action(groups)
  cmd('group <id>', 'show a group: members (pid), assignment, committed offsets, lag')
    .option(json, 'print JSON').action(group)
  cmd('reset-offsets <group>', "move a stopped group's committed offsets")
    .option('--to <where>', 'earliest, latest, or an offset')
    .option('--to-datetime <iso>', 'the first offset at or after this time (ISO-8601), else the end', dateArg('--to-datetime'))
    .option('-t, --topic <topic>', 'only this topic (default: every partition the group has)')
    .option('-p, --partition <n>', 'only this partition (with --topic)', intArg('partition'))
    .option(json, 'print the new offsets as JSON')
    .action(resetOffsets)
  cmd('delete-group <group>', 'delete a stopped group and its committed offsets').action(deleteGroup)
  cmd('dump <topic>', "list a partition's batches: segment, position, offsets, size, timestamps, CRC")
    .argument('<partition>', 'partition number', intArg('partition'))
    .option('-o, --offset <n>', 'start at the batch holding this offset', intArg('offset'))
    .option(json, 'print JSON')
    .action(dump)
  cmd('verify', 'check the CRC of every batch of every segment; exit 1 on damage')
    .option(json, 'print JSON')
    .action(verify)
  cmd('ui', 'serve a live web console of the log (read-only unless --allow-write) until Ctrl-C')
    .option('--port <n>', 'the port (0: a free one)', intArg('port'), 9021)
    .option('--host <address>', 'the address to listen on', '127.0.0.1')
    .option('--allow-write', 'allow resetting offsets of stopped groups, deleting topics and groups, producing test records')
    .action(ui)
  // Two logs, neither of them --dir.
  prog.command('mirror').description('copy topics, records and group offsets from one log to another (a directory or kafka://host:port each); resumes where it stopped')
    .requiredOption('--from <log>', 'the source: a log directory or kafka://host:port')
    .requiredOption('--to <log>', 'the target: a log directory (created if missing) or kafka://host:port')
    .option('--topics <names...>', 'only these topics (names or globs such as orders.*; default: all but internal ones)', list)
    .option('--groups <names...>', 'copy the offsets of only these groups (names or globs; default: all)', list)
    .option('--no-groups', 'copy no group offsets')
    .option('-f, --follow', 'keep copying new records until Ctrl-C or SIGTERM')
    .option('--id <name>', 'the name the target keeps this source\'s progress under (default: the source\'s path or URL)')
    .option(json, 'one JSON object per line: start, progress (each second), group, warning, done')
    .action(mirror)
  return prog
}

async function main () {
  process.stdout.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  })
  try {
    await program().parseAsync(process.argv)
    return process.exitCode ?? 0
  } catch (e) {
    if (e && typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander has printed the message; --help and --version end here too.
      return e.exitCode === 0 ? 0 : 2
    }
    if (e instanceof UsageError) {
      process.stderr.write(`${err.red('error:')} ${e.message}\n`)
      return 2
    }
    const code = e && e.code ? ` (${e.code})` : ''
    process.stderr.write(`${err.red('caldo:')} ${String(e && e.message ? e.message : e).split('\n')[0]}${code}\n`)
    // A value the library refuses (a too small --segment-bytes, say) is a usage error too.
    return e && e.code === 'ERR_INVALID_ARG' ? 2 : 1
  }
}

// Output to a pipe is written asynchronously: let it all out before exiting, or a
// slow reader loses the tail of it.
const flushed = (stream) => new Promise((resolve) => stream.write('', () => resolve()))

main().then(async (code) => {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)])
  process.exit(code)
})
