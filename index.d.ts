/// <reference types="node" />
// caldo: a partitioned, persistent, replayable log shared by Node processes through one directory.

export type ErrorCode =
  | 'ERR_INVALID_TOPIC' | 'ERR_UNKNOWN_TOPIC' | 'ERR_TOPIC_EXISTS' | 'ERR_INVALID_PARTITION'
  | 'ERR_MESSAGE_TOO_LARGE' | 'ERR_INVALID_ARG' | 'ERR_CLOSED' | 'ERR_CORRUPT' | 'ERR_IO'
  | 'ERR_DESERIALIZE'

/** Every error caldo raises carries a stable `code`. Bad arguments are `TypeError`s. */
export interface CaldoError extends Error { code: ErrorCode }

export interface Serde<T> { serialize(v: T): Buffer | Uint8Array; deserialize(b: Buffer): T }
export const serde: { json: Serde<any>; string: Serde<string>; buffer: Serde<Buffer> }

export interface OpenOptions {
  /** 'none': page cache only; 'interval' (default): fdatasync every flushIntervalMs; 'always': send() resolves after fdatasync. */
  durability?: 'none' | 'interval' | 'always'
  flushIntervalMs?: number
}
export function open(dir: string, opts?: OpenOptions): Promise<Log>

export interface TopicConfig { partitions?: number; segmentBytes?: number; maxMessageBytes?: number }
export interface PartitionInfo { partition: number; low: number; high: number }
export interface TopicInfo { name: string; partitions: PartitionInfo[]; config: Required<TopicConfig> }

export interface TopicPartition { topic: string; partition: number }
export interface TopicPartitionOffset extends TopicPartition { offset: number }

/** Raw values when the producer has no serde for them. */
export type Bytes = Buffer | Uint8Array | string

export interface ProducerOptions<K, V> { key?: Serde<K>; value?: Serde<V> }
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

export class Producer<K = Bytes, V = Bytes> implements AsyncDisposable {
  /** Records sent in the same tick (and while an append is in flight) go down in one native call. */
  send(topic: string, record: ProducerRecord<K, V>): Promise<RecordMetadata>
  sendBatch(topic: string, records: ProducerRecord<K, V>[]): Promise<RecordMetadata[]>
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

export type StartOffset = number | 'earliest' | 'latest'

export interface ConsumerOptions<K, V> {
  /** Manual assignment; 'latest' by default. */
  assign: { topic: string; partition: number; offset?: StartOffset }[]
  key?: Serde<K>
  value?: Serde<V>
  /** Aborting closes the consumer. */
  signal?: AbortSignal
}

export class Consumer<K = Buffer, V = Buffer> implements AsyncIterable<Message<K, V>>, AsyncDisposable {
  /** Leaving the loop (break, return, throw) closes the consumer. */
  [Symbol.asyncIterator](): AsyncIterator<Message<K, V>>
  /** Arrays of messages as they arrive; with maxWaitMs, an empty array after that long with nothing. */
  batches(opts?: { maxMessages?: number; maxWaitMs?: number }): AsyncIterable<Message<K, V>[]>
  /** Offsets outside the log are clamped to its ends. */
  seek(to: TopicPartition & { offset: StartOffset }): void
  pause(tps: TopicPartition[]): void
  resume(tps: TopicPartition[]): void
  assignment(): TopicPartition[]
  lag(): Promise<(TopicPartitionOffset & { high: number; lag: number })[]>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export class Log implements AsyncDisposable {
  createTopic(name: string, cfg?: TopicConfig): Promise<TopicInfo>
  deleteTopic(name: string): Promise<void>
  topics(): Promise<TopicInfo[]>
  producer<K = Bytes, V = Bytes>(opts?: ProducerOptions<K, V>): Producer<K, V>
  consumer<K = Buffer, V = Buffer>(opts: ConsumerOptions<K, V>): Consumer<K, V>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}
