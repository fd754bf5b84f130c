/// <reference types="node" />
import { EventEmitter } from 'node:events'
// caldo: a partitioned, persistent, replayable log shared by Node processes through one directory.

export type ErrorCode =
  | 'ERR_INVALID_TOPIC' | 'ERR_UNKNOWN_TOPIC' | 'ERR_TOPIC_EXISTS' | 'ERR_INVALID_PARTITION'
  | 'ERR_MESSAGE_TOO_LARGE' | 'ERR_INVALID_ARG' | 'ERR_CLOSED' | 'ERR_CORRUPT' | 'ERR_IO'
  | 'ERR_DESERIALIZE' | 'ERR_INVALID_GROUP' | 'ERR_FENCED' | 'ERR_OFFSET_OUT_OF_RANGE' | 'ERR_GROUP_ACTIVE'
  | 'ERR_UNKNOWN_GROUP' | 'ERR_INVALID_TXN_STATE' | 'ERR_INTERNAL' | 'ERR_CALDO_NATIVE'
  | 'ERR_CONNECT' | 'ERR_UNSUPPORTED' | 'ERR_KAFKA'

/** Every code an error from caldo can carry. */
export const errorCodes: readonly ErrorCode[]

/**
 * Every error caldo raises carries a stable `code`. Bad arguments are `TypeError`s;
 * `err instanceof CaldoError` holds for those too.
 */
export class CaldoError extends Error {
  code: ErrorCode
  /** On `ERR_IO`: the OS error's name, e.g. 'ENOSPC', 'EROFS', 'EACCES'. */
  ioCode?: string
  /** On `ERR_DESERIALIZE`: where the record is. The loop ends but the consumer stays open: seek past it and iterate again, or close it. */
  topic?: string
  partition?: number
  offset?: number
  /** On `ERR_UNSUPPORTED` (Kafka logs): the option or call Kafka has no meaning for. */
  option?: string
}

export interface Serde<T> { serialize(v: T): Buffer | Uint8Array; deserialize(b: Buffer): T }
export const serde: { json: Serde<any>; string: Serde<string>; buffer: Serde<Buffer> }

export interface OpenOptions {
  /** 'none': page cache only; 'interval' (default): fdatasync every flushIntervalMs; 'always': send() resolves after fdatasync. */
  durability?: 'none' | 'interval' | 'always'
  flushIntervalMs?: number
  /** How often this process's cleaner applies retention (ms, default 30000); segment rolls also wake it. 0: only log.clean(). */
  cleanIntervalMs?: number
}
export function open(dir: string, opts?: OpenOptions): Promise<Log>

/** A Kafka cluster's client settings (open({ kafka })). */
export interface KafkaOptions {
  /** 'host:port' of one or more brokers (a comma-separated string works too). */
  brokers: string[] | string
  /** Sent to the brokers with each request; 'caldo-<pid>' by default. */
  clientId?: string
  /** TLS: true, or tls.connect options (ca, cert, key, servername, ...). */
  ssl?: boolean | import('node:tls').ConnectionOptions
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'OAUTHBEARER'; username?: string; password?: string; token?: string }
  /** How long opening (and each request) may wait for the cluster before ERR_CONNECT (ms, default 10000). */
  connectTimeoutMs?: number
  /** A group member that stops heartbeating loses its partitions after this long (ms, default 10000). */
  sessionTimeoutMs?: number
}
/**
 * The same Log on an Apache Kafka cluster: 'kafka://host:port[,host:port]' or { kafka }. An
 * unreachable cluster is ERR_CONNECT within connectTimeoutMs; a malformed URL is ERR_INVALID_ARG.
 */
export function open(target: `kafka://${string}` | { kafka: KafkaOptions }): Promise<Log>

export interface TopicConfig {
  /** Fixed at creation (default 1). */
  partitions?: number
  segmentBytes?: number
  maxMessageBytes?: number
  /** Segments whose largest timestamp is older than this go (default 7 days); -1: kept forever. */
  retentionMs?: number
  /** Per partition: the oldest segments go while the rest still holds this much (default -1: no limit). */
  retentionBytes?: number
  /** The active segment is rolled once it was started this long ago (default 7 days). */
  segmentMs?: number
  /**
   * 'delete' (default): retention by time and size. 'compact': keeps the last record of each key
   * (records must have a key: ERR_INVALID_ARG otherwise). 'compact,delete': both.
   */
  cleanupPolicy?: 'delete' | 'compact' | 'compact,delete'
  /** How long compaction keeps tombstones, judged by their batch's timestamp (default 1 day). */
  deleteRetentionMs?: number
  /** Segments holding records younger than this are not compacted (default 0). */
  minCompactionLagMs?: number
  /** Compaction starts once this share of the sealed bytes is dirty, 0 to 1 (default 0.5). */
  minCleanableDirtyRatio?: number
}
export interface PartitionInfo {
  partition: number
  /** The log start: the first offset still stored (moved by retention and deleteRecords). */
  low: number
  high: number
  /** The last stable offset: below it every transaction is decided; read_committed consumers stop here. `high` when none is open. */
  lso: number
  /** Bytes of its segment files on disk (null on Kafka). */
  bytes: number | null
  /** For a compacted topic, the share of its sealed segments' bytes not compacted yet (0 otherwise; null on Kafka). */
  dirtyRatio: number | null
}
export interface TopicInfo {
  name: string
  partitions: PartitionInfo[]
  /** null when the topic cannot be read; `damage` then says why. */
  config: Required<TopicConfig> | null
  damage?: { code: ErrorCode; message: string }
}

export interface TopicPartition { topic: string; partition: number }
export interface TopicPartitionOffset extends TopicPartition { offset: number }

/** Raw values when the producer has no serde for them. */
export type Bytes = Buffer | Uint8Array | string

export interface ProducerOptions<K, V> {
  key?: Serde<K>
  value?: Serde<V>
  /**
   * Makes the producer transactional: it sends only inside `transaction()`. Opening the same
   * id again, in any process, fences this producer (ERR_FENCED) and aborts its open transaction.
   */
  transactionalId?: string
  /** A transaction open longer is aborted by any process with the log open, and its producer fenced. 1 to 900000; 60000 by default. */
  transactionTimeoutMs?: number
}
export interface ProducerRecord<K, V> {
  key?: K | null
  /** null is a tombstone. */
  value: V | null
  headers?: Record<string, string | Buffer | Uint8Array | null>
  partition?: number
  /** Milliseconds since the epoch; defaults to now. */
  timestamp?: number
}
export interface RecordMetadata { topic: string; partition: number; offset: number; timestamp: number }

/** The sends of one transaction. */
export interface Transaction<K, V> {
  send(topic: string, record: ProducerRecord<K, V>): Promise<RecordMetadata>
  sendBatch(topic: string, records: ProducerRecord<K, V>[]): Promise<RecordMetadata[]>
  /** Sends a group consumer's positions (every message it handed out): they count once the transaction commits. From then on the consumer commits only this way. */
  sendOffsets(consumer: Consumer<any, any>): Promise<void>
}

export class Producer<K = Bytes, V = Bytes> implements AsyncDisposable {
  /** Records sent in the same tick (and while an append is in flight) go down in one native call. Idempotent: a retried batch is written once. */
  send(topic: string, record: ProducerRecord<K, V>): Promise<RecordMetadata>
  sendBatch(topic: string, records: ProducerRecord<K, V>[]): Promise<RecordMetadata[]>
  /** Transactional producers: runs `fn` as one transaction, committed when it resolves, aborted when it throws. */
  transaction<R>(fn: (tx: Transaction<K, V>) => Promise<R>): Promise<R>
  flush(): Promise<void>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export interface Message<K, V> {
  topic: string
  partition: number
  offset: number
  timestamp: number
  key: K | null
  value: V | null
  headers: Record<string, Buffer | null>
}

/**
 * A batch of messages read lazily from one buffer (`batches({ view: true })`): nothing is
 * built per message until asked for. `i` is an index from 0 to length - 1 (else
 * ERR_INVALID_ARG). key(i) and value(i) go through the consumer's serdes; one that cannot
 * read a record throws ERR_DESERIALIZE there (the whole batch counts as handed out).
 * Buffers it returns share the batch's memory, which lives as long as any of them.
 */
export interface MessageBatch<K = Buffer, V = Buffer> extends Iterable<Message<K, V>> {
  readonly length: number
  topic(i: number): string
  partition(i: number): number
  offset(i: number): number
  timestamp(i: number): number
  key(i: number): K | null
  value(i: number): V | null
  headers(i: number): Record<string, Buffer | null>
  /** Message `i` as an object, as batches() without `view` gives it. */
  message(i: number): Message<K, V>
}

export type StartOffset = number | 'earliest' | 'latest'

interface CommonConsumerOptions<K, V> {
  key?: Serde<K>
  value?: Serde<V>
  /** 'read_committed' (default): up to the last stable offset, no aborted records. 'read_uncommitted': every data record. Neither returns transaction markers. */
  isolation?: 'read_committed' | 'read_uncommitted'
  /** Aborting closes the consumer (committing what was processed, leaving its group). */
  signal?: AbortSignal
}

/** Manual assignment: this consumer reads exactly these partitions. */
export interface AssignOptions<K, V> extends CommonConsumerOptions<K, V> {
  /** 'latest' by default. */
  assign: { topic: string; partition: number; offset?: StartOffset }[]
}

/** A member of a consumer group: the group's live members share the topics' partitions. */
export interface GroupOptions<K, V> extends CommonConsumerOptions<K, V> {
  groupId: string
  /** Topics must exist; an unknown topic is an ERR_UNKNOWN_TOPIC error. */
  topics: string[]
  /** Where a partition with no committed offset starts; 'latest' by default. */
  startFrom?: 'earliest' | 'latest'
  /**
   * true (default): a message counts as processed once the next one is asked for; committed
   * every second, when caught up, on revoke and on close. { intervalMs } sets the period;
   * false: only commit() commits.
   */
  autoCommit?: boolean | { intervalMs: number }
  /** 'cooperative-sticky' (default): only partitions that must move stop. The oldest member's choice wins. */
  assignor?: 'cooperative-sticky' | 'range' | 'roundrobin'
  /** Off by default. A member holding messages this long without asking for more loses its partitions (ERR_FENCED on commit) and joins again when it next asks. */
  maxPollIntervalMs?: number
}

export type ConsumerOptions<K, V> = AssignOptions<K, V> | GroupOptions<K, V>

export interface RebalanceEvent { assigned: TopicPartition[]; revoked: TopicPartition[] }
/** A position below the log start (removed by retention or deleteRecords) moved to the log start: `from` was asked, `to` is read next. */
export interface OffsetOutOfRangeEvent { topic: string; partition: number; from: number; to: number }

export class Consumer<K = Buffer, V = Buffer> implements AsyncIterable<Message<K, V>>, AsyncDisposable {
  /** Leaving the loop (break, return, throw) closes the consumer; the message in hand is not counted as processed. */
  [Symbol.asyncIterator](): AsyncIterator<Message<K, V>>
  /** Arrays of messages as they arrive; with maxWaitMs, an empty array after that long with nothing. */
  batches(opts?: { maxMessages?: number; maxWaitMs?: number; view?: false }): AsyncIterable<Message<K, V>[]>
  /** With `view: true`, MessageBatch views that read each field when asked, from the fetch's one buffer. */
  batches(opts: { maxMessages?: number; maxWaitMs?: number; view: true }): AsyncIterable<MessageBatch<K, V>>
  batches(opts: { maxMessages?: number; maxWaitMs?: number; view?: boolean }): AsyncIterable<Message<K, V>[] | MessageBatch<K, V>>
  /**
   * Offsets outside the log are clamped to its ends (below the log start: with an
   * 'offsetOutOfRange' event). With `timestamp` (ms since the epoch):
   * the first record whose timestamp is at or after it, or the end when none is that recent.
   */
  seek(to: (TopicPartition & { offset: StartOffset }) | (TopicPartition & { timestamp: number })): void
  pause(tps: TopicPartition[]): void
  resume(tps: TopicPartition[]): void
  /** The partitions this consumer reads now (in a group: holds the ownership of). */
  assignment(): TopicPartition[]
  /** Group consumers: commits the given next-offsets, or everything handed out so far. */
  commit(offsets?: TopicPartitionOffset[]): Promise<void>
  /** Group consumers: the group's committed offsets for the assigned partitions. */
  committed(): Promise<TopicPartitionOffset[]>
  /** `high` is where reading ends: the last stable offset when read committed. */
  lag(): Promise<(TopicPartitionOffset & { high: number; lag: number })[]>
  on(event: 'rebalance', listener: (e: RebalanceEvent) => void): this
  once(event: 'rebalance', listener: (e: RebalanceEvent) => void): this
  off(event: 'rebalance', listener: (e: RebalanceEvent) => void): this
  on(event: 'offsetOutOfRange', listener: (e: OffsetOutOfRangeEvent) => void): this
  once(event: 'offsetOutOfRange', listener: (e: OffsetOutOfRangeEvent) => void): this
  off(event: 'offsetOutOfRange', listener: (e: OffsetOutOfRangeEvent) => void): this
  /** Commits what was processed (auto-commit), leaves the group at once, ends the iterators. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export interface GroupInfo {
  groupId: string
  /** null on Kafka (DescribeGroups does not say). */
  generation: number | null
  /** pid is null on Kafka, which knows members by session (clientId and host instead). */
  members: { memberId: string; pid: number | null; clientId?: string; host?: string; topics: string[]; assignment: TopicPartition[] }[]
  /** committed is null where the group has committed nothing yet. */
  offsets: { topic: string; partition: number; committed: number | null; high: number; lag: number }[]
}

export interface TableOptions<K, V> { key?: Serde<K>; value?: Serde<V> }

/** What one record did to a table: set a key (value) or delete it (value undefined). */
export interface TableChange<K, V> {
  key: K
  /** The new value; undefined when a tombstone deleted the key. */
  value: V | undefined
  /** The value the key had before; undefined when it had none. */
  previous: V | undefined
  partition: number
  offset: number
}

/**
 * A topic read into a live, read-only, Map-like view: the last value per key. A record
 * with a null value (a tombstone) deletes its key; records without a key are skipped.
 * Keys are compared by their serialized bytes. Follows appends from every process.
 */
export class Table<K = Buffer, V = Buffer> extends EventEmitter implements Iterable<[K, V]>, AsyncDisposable {
  readonly topic: string
  readonly size: number
  get(key: K): V | undefined
  has(key: K): boolean
  keys(): IterableIterator<K>
  values(): IterableIterator<V>
  entries(): IterableIterator<[K, V]>
  [Symbol.iterator](): IterableIterator<[K, V]>
  forEach(fn: (value: V, key: K, table: this) => void, thisArg?: unknown): void
  /**
   * Resolves with the table once it has applied every record below the high watermark
   * each partition had when ready() was called (at once if it already had, e.g. on an
   * empty topic). Rejects with the table's error (ERR_UNKNOWN_TOPIC, ERR_DESERIALIZE, ...)
   * if it failed, and with ERR_CLOSED if it is closed first.
   */
  ready(): Promise<this>
  /** After each record that changed the table, in log order per partition; the table already holds the change. */
  on(event: 'change', listener: (e: TableChange<K, V>) => void): this
  /** The table failed and stopped following (emitted only if there are listeners; ready() rejects with it too). */
  on(event: 'error', listener: (err: CaldoError) => void): this
  once(event: 'change', listener: (e: TableChange<K, V>) => void): this
  once(event: 'error', listener: (err: CaldoError) => void): this
  off(event: 'change', listener: (e: TableChange<K, V>) => void): this
  off(event: 'error', listener: (err: CaldoError) => void): this
  /** Stops following; what was read stays readable. Closing the log closes its tables. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export interface CleanResult {
  segments: number
  bytes: number
  /**
   * The partitions retention removed segments from or compaction rewrote: segments removed,
   * bytes freed by both, records compaction dropped, and the log start afterwards.
   */
  partitions: { topic: string; partition: number; segments: number; bytes: number; recordsRemoved: number; logStart: number }[]
  /** Partitions skipped because another process was cleaning them. */
  busy: number
}

export interface UiOptions {
  /** 0 (default): a free port. */
  port?: number
  /** The address to listen on; '127.0.0.1' by default. */
  host?: string
  /** Allow resetting offsets of stopped groups, deleting topics and groups, producing test records (default false). */
  allowWrite?: boolean
}

/** A running web console (log.ui()). */
export interface WebConsole {
  /** Where to point a browser, e.g. 'http://127.0.0.1:9021/'. */
  readonly url: string
  readonly host: string
  readonly port: number
  readonly allowWrite: boolean
  /** Stops serving and ends open pages' event streams. */
  close(): Promise<void>
}

export class Log implements AsyncDisposable {
  createTopic(name: string, cfg?: TopicConfig): Promise<TopicInfo>
  /** Changes any setting but partitions (ERR_INVALID_ARG); ERR_UNKNOWN_TOPIC for a topic that does not exist. */
  alterTopic(name: string, cfg: Omit<TopicConfig, 'partitions'>): Promise<TopicInfo>
  /** Moves the log start of one partition forward (Kafka's DeleteRecords); past the high watermark: ERR_OFFSET_OUT_OF_RANGE. */
  deleteRecords(topic: string, partition: number, beforeOffset: number): Promise<{ topic: string; partition: number; lowWatermark: number }>
  /** Runs retention now on every topic, and compacts whatever is dirty on compacted ones. */
  clean(): Promise<CleanResult>
  deleteTopic(name: string): Promise<void>
  /** With internal: true, __consumer_offsets is listed too. */
  topics(opts?: { internal?: boolean }): Promise<TopicInfo[]>
  groups(): Promise<GroupInfo[]>
  /**
   * Kafka's ListOffsets by time: per partition, the first offset whose record has a timestamp
   * at or after `timestamp` (ms since the epoch), or the high watermark when no record is that
   * recent (where a consumer seeking to that time starts).
   */
  offsetsForTimes(query: (TopicPartition & { timestamp: number })[]): Promise<TopicPartitionOffset[]>
  /** Refused with ERR_GROUP_ACTIVE while the group has live members. */
  setGroupOffsets(groupId: string, to: 'earliest' | 'latest' | TopicPartitionOffset[]): Promise<void>
  /**
   * Deletes a stopped group (Kafka's DeleteGroups): tombstones for its committed offsets, which
   * compaction removes after deleteRetentionMs, and its state. ERR_GROUP_ACTIVE while it has live
   * members, ERR_UNKNOWN_GROUP for a group that does not exist.
   */
  deleteGroup(groupId: string): Promise<void>
  producer<K = Bytes, V = Bytes>(opts?: ProducerOptions<K, V>): Producer<K, V>
  consumer<K = Buffer, V = Buffer>(opts: ConsumerOptions<K, V>): Consumer<K, V>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
  /**
   * A live web console on this log: overview, topics and their records, groups and their lag.
   * Read-only unless allowWrite; binds 127.0.0.1 unless told otherwise. Closing the log closes it.
   * A port in use is ERR_IO (ioCode 'EADDRINUSE').
   */
  ui(opts?: UiOptions): Promise<WebConsole>
  /** A live, read-only, Map-like view of a topic (usually a compacted one): the last value per key. */
  table<K = Buffer, V = Buffer>(topic: string, opts?: TableOptions<K, V>): Table<K, V>
}

export interface MirrorOptions {
  /** The source: a log directory, a kafka://host:port URL, or a Log opened by the caller. */
  from: string | Log
  /** The target: a log directory (created if missing), a kafka://host:port URL, or a Log. */
  to: string | Log
  /** Names or globs (* and ?); default every topic but internal ones. */
  topics?: string[]
  /** Groups whose offsets are copied: names or globs; default all; false: none. */
  groups?: string[] | false
  /** Keep copying new records until `signal` aborts; otherwise stop at the source's ends seen at start. */
  follow?: boolean
  /** The name the target keeps this source's progress under; default the source's path or URL (required for a Log). */
  id?: string
  /** Stops the mirror after the step under way commits. */
  signal?: AbortSignal
  onProgress?: (e: MirrorEvent) => void
}

export type MirrorEvent =
  | { event: 'start'; id: string; topics: MirrorTopic[]; partitions: number; remaining: number }
  | { event: 'progress'; records: number; bytes: number; remaining: number; seconds: number }
  | { event: 'group'; groupId: string; offsets: TopicPartitionOffset[]; pending: number }
  | { event: 'warning'; message: string }
  | ({ event: 'done' } & MirrorSummary)

export interface MirrorTopic { name: string; partitions: number; created: boolean }

export interface MirrorSummary {
  records: number
  bytes: number
  /** Transactions committed at the target. */
  steps: number
  /** Source offsets removed (retention, deleteRecords) before they were copied. */
  lost: number
  topics: MirrorTopic[]
  groups: { synced: string[]; skipped: { groupId: string; reason: string }[] }
  /** Ended by the signal. */
  stopped: boolean
  seconds: number
}

/**
 * Copies topics (partitions and config), records (keys, headers, timestamps, in order per
 * partition) and group offsets (translated to the target's offsets) from one log to another.
 * Each step is one transaction at the target holding its records and the mirror's progress,
 * so a mirror killed at any point resumes without copying a record twice.
 */
export function mirror(opts: MirrorOptions): Promise<MirrorSummary>
