// The scenarios of bullmq-getters.test.mjs again, with every BullMQ client on ioredis 6 speaking RESP3.
process.env.KEEL_TEST_RESP3 = '1';
await import('./bullmq-getters.test.mjs');
