// Compiled with `tsc --noEmit` by `npm test`: the serde generics must flow into messages.
import { open, mirror, serde, Message, MessageBatch, RecordMetadata, CaldoError } from '..'

interface Order { id: number; total: number }
const orders = { serialize: (o: Order) => Buffer.from(JSON.stringify(o)), deserialize: (b: Buffer) => JSON.parse(b.toString()) as Order }

async function main (): Promise<void> {
  const log = await open('./data', { durability: 'always' })
  // The same Log on Kafka: a URL, or the client's settings.
  const onKafka = await open('kafka://broker:9092')
  await open({ kafka: { brokers: ['b1:9092', 'b2:9092'], ssl: true, sasl: { mechanism: 'SCRAM-SHA-512', username: 'u', password: 'p' }, connectTimeoutMs: 5000 } })
  // @ts-expect-error brokers are required
  await open({ kafka: { clientId: 'x' } })
  const bytes: number | null = (await onKafka.topics())[0].partitions[0].bytes
  console.log(bytes)
  await log.createTopic('orders', { partitions: 4, retentionMs: 86_400_000, cleanupPolicy: 'compact,delete' })
  const altered = await log.alterTopic('orders', { retentionBytes: 1 << 30 })
  console.log(altered.config?.retentionBytes)
  // @ts-expect-error partitions cannot be altered
  await log.alterTopic('orders', { partitions: 8 })
  // @ts-expect-error not a cleanup policy
  await log.createTopic('x', { cleanupPolicy: 'shred' })
  const { lowWatermark } = await log.deleteRecords('orders', 0, 10)
  const cleaned = await log.clean()
  console.log(lowWatermark, cleaned.segments, cleaned.partitions[0]?.logStart)
  const producer = log.producer({ key: serde.string, value: orders })
  const md: RecordMetadata = await producer.send('orders', { key: 'c1', value: { id: 1, total: 9 }, headers: { src: 'web' } })
  const offset: number = md.offset
  await producer.sendBatch('orders', [{ value: { id: 2, total: 1 } }, { key: null, value: null }])
  // @ts-expect-error a string is not an Order
  await producer.send('orders', { value: 'nope' })

  const raw = log.producer()
  await raw.send('orders', { value: Buffer.from('x') })
  await raw.send('orders', { value: 'text is bytes too' })

  const consumer = log.consumer({ assign: [{ topic: 'orders', partition: 0, offset: 'earliest' }], key: serde.string, value: orders })
  for await (const m of consumer) {
    const key: string | null = m.key
    // @ts-expect-error the value may be null (a tombstone)
    const total: number = m.value.total
    if (m.value) console.log(key, m.value.total, m.headers.src?.toString(), offset)
    break
  }
  const c2 = log.consumer({ assign: [{ topic: 'orders', partition: 1 }] })
  for await (const batch of c2.batches({ maxMessages: 100 })) {
    const first: Message<Buffer, Buffer> | undefined = batch[0]
    const v: Buffer | null | undefined = first?.value
    console.log(v)
    break
  }
  for await (const view of consumer.batches({ maxMessages: 100, view: true })) {
    const batch: MessageBatch<string, { id: number; total: number }> = view
    const total: number | undefined = batch.value(0)?.total
    const key: string | null = batch.key(0)
    const at: number = batch.offset(batch.length - 1) + batch.timestamp(0) + batch.partition(0)
    const m: Message<string, { id: number; total: number }> = batch.message(0)
    for (const each of batch) console.log(each.value?.id, batch.topic(0), batch.headers(0).src?.length)
    console.log(total, key, at, m.offset)
    break
  }
  c2.seek({ topic: 'orders', partition: 1, offset: 'earliest' })
  c2.seek({ topic: 'orders', partition: 1, timestamp: Date.now() - 60_000 })
  const lag = await c2.lag()
  console.log(lag[0].lag)
  const group = log.consumer({ groupId: 'billing', topics: ['orders'], startFrom: 'earliest', autoCommit: { intervalMs: 500 }, value: orders })
  group.on('rebalance', ({ assigned, revoked }) => console.log(assigned.length, revoked.length))
  group.on('offsetOutOfRange', ({ topic, partition, from, to }) => console.log(topic, partition, from, to))
  for await (const m of group) {
    const id: number | undefined = m.value?.id
    console.log(id)
    await group.commit([{ topic: m.topic, partition: m.partition, offset: m.offset + 1 }])
    break
  }
  const tp = log.producer({ transactionalId: 'billing-1', transactionTimeoutMs: 10_000, value: orders })
  const sentAt: number = await tp.transaction(async (tx) => {
    const md = await tx.send('orders', { key: 'c', value: { id: 3, total: 1 } })
    await tx.sendBatch('orders', [{ value: { id: 4, total: 2 } }])
    await tx.sendOffsets(group)
    return md.offset
  })
  console.log(sentAt)
  const uncommitted = log.consumer({ isolation: 'read_uncommitted', assign: [{ topic: 'orders', partition: 0 }] })
  console.log(uncommitted, (await log.topics())[0].partitions[0].lso)
  // @ts-expect-error isolation levels are a closed set
  log.consumer({ isolation: 'serializable', assign: [{ topic: 'orders', partition: 0 }] })
  // @ts-expect-error a group consumer needs topics
  log.consumer({ groupId: 'billing' })
  // @ts-expect-error assignors are a closed set
  log.consumer({ groupId: 'billing', topics: ['orders'], assignor: 'sticky' })
  const groups = await log.groups()
  const committed: number | null = groups[0].offsets[0].committed
  console.log(committed, groups[0].members[0].pid)
  await log.setGroupOffsets('billing', 'earliest')
  const byTime: { topic: string; partition: number; offset: number }[] = await log.offsetsForTimes([{ topic: 'orders', partition: 0, timestamp: 0 }])
  void byTime
  await log.setGroupOffsets('billing', [{ topic: 'orders', partition: 0, offset: 0 }])
  try {
    await log.deleteTopic('nope')
  } catch (e) {
    const code: CaldoError['code'] = (e as CaldoError).code
    console.log(code)
  }
  const users = await log.table('users', { key: serde.string, value: orders }).ready()
  const o: Order | undefined = users.get('c1')
  const n: number = users.size
  for (const [k, v] of users) console.log(k.toUpperCase(), v.total, o, n)
  users.on('change', ({ key, value, previous, partition, offset }) => console.log(key.length, value?.total, previous?.id, partition + offset))
  // @ts-expect-error keys are strings here
  users.get(42)
  // @ts-expect-error a table is read-only
  users.set('c1', { id: 1, total: 2 })
  const raw2 = log.table('users')
  const b: Buffer | undefined = raw2.get(Buffer.from('c1'))
  console.log(b, [...raw2.keys()].length)
  await raw2.close()
  const web = await log.ui({ port: 0, allowWrite: false })
  const url: string = web.url
  console.log(url, web.port)
  // @ts-expect-error the port is a number
  await log.ui({ port: '9021' })
  await web.close()
  const ac = new AbortController()
  const summary = await mirror({ from: './data', to: log, id: 'data', topics: ['orders.*'], groups: false, follow: true, signal: ac.signal, onProgress: (e) => { if (e.event === 'progress') console.log(e.records, e.remaining) } })
  const copied: number = summary.records + summary.groups.skipped.length
  console.log(copied, summary.topics.map((t) => t.created))
  // @ts-expect-error from and to are both required
  await mirror({ from: './data' })
  await log.close()
}
void main
