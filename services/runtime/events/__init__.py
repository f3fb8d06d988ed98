"""Events over NATS JetStream: protobuf payloads with CloudEvents-style headers, a transactional
outbox, and durable pull consumers with one fixed ack / nak / term policy and an inbox."""
