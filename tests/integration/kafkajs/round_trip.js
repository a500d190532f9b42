// kafkajs against mini-kafka's Kafka listener: admin, an idempotent gzip producer, and a
// consumer group that reads the topic back (what other clients wrote too).
// node round_trip.js BROKERS TOPIC EXPECTED -> prints {"values": [...]} on stdout
const { Kafka, logLevel, CompressionTypes } = require('kafkajs')

const [brokers, topic, expected] = [process.argv[2].split(','), process.argv[3],
  Number(process.argv[4])]
const kafka = new Kafka({ clientId: 'kafkajs-test', brokers, logLevel: logLevel.ERROR })

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  const topics = await admin.listTopics()
  if (!topics.includes(topic)) {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }] })
  }
  await admin.disconnect()
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const messages = Array.from({ length: 100 }, (_, i) => ({ key: `js${i}`, value: `kafkajs ${i}` }))
  await producer.send({ topic, messages, compression: CompressionTypes.GZIP })
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: `kafkajs-${topic}` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const values = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${values.length} of ${expected}`)), 30000)
    consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value.toString())
        if (values.length === expected) { clearTimeout(timer); resolve() }
      }
    })
  })
  await consumer.disconnect()
  console.log(JSON.stringify({ values }))
}

main().catch(e => { console.error(e); process.exit(1) })
