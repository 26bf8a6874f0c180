#!/usr/bin/env python3
"""The benchmark's peer: mq-bridge 1.2.0 as an HTTP POST -> NATS JetStream bridge that
answers only after the PubAck (fire_and_forget false) with dedupe on (deduplicate true).
Started by sendrealm-bench from the virtualenv scripts/bench prepares.

Usage: python3 mqb_http_nats.py [--listen 127.0.0.1:28090] [--nats-url nats://127.0.0.1:24333]
                                [--stream PEER] [--subject peer.events] [--path /ingest] ...
Every option also reads an env var (MQB_LISTEN, MQB_NATS_URL, MQB_STREAM, MQB_SUBJECT, ...).
Stops gracefully on SIGTERM/SIGINT (in-flight requests still get their reply).
Tokio worker threads default to the CPU count; override with env TOKIO_WORKER_THREADS=N.
"""
import argparse
import os
import signal
import socket
import sys
import time

import mq_bridge
from mq_bridge import Message, Route


def env(name, default):
    return os.environ.get(name, default)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default=env("MQB_LISTEN", "127.0.0.1:28090"))
    p.add_argument("--path", default=env("MQB_PATH", ""), help="exact request path filter ('' = any path)")
    p.add_argument("--nats-url", default=env("MQB_NATS_URL", "nats://127.0.0.1:24333"))
    p.add_argument("--stream", default=env("MQB_STREAM", "PEER"))
    p.add_argument("--subject", default=env("MQB_SUBJECT", "peer.events"))
    p.add_argument("--id-header", default=env("MQB_ID_HEADER", "message-id"),
                   help="request header whose value becomes the message id (-> Nats-Msg-Id)")
    p.add_argument("--idempotency-header", default=env("MQB_IDEMPOTENCY_HEADER", ""),
                   help="optional: header with an ARBITRARY string key (e.g. Idempotency-Key); a small Python "
                        "middleware turns it into the message id (hashed) -> Nats-Msg-Id. Costs Python/GIL per batch.")
    p.add_argument("--concurrency-limit", type=int, default=int(env("MQB_CONCURRENCY_LIMIT", "100")),
                   help="HTTP consumer: max concurrent requests (mq-bridge default 100)")
    p.add_argument("--buffer", type=int, default=int(env("MQB_BUFFER", "0")),
                   help="HTTP consumer internal channel size (0 = mq-bridge default 100)")
    p.add_argument("--workers", type=int, default=int(env("MQB_WORKERS", "0")),
                   help="HTTP consumer worker threads (0 = mq-bridge default)")
    p.add_argument("--batch-size", type=int, default=int(env("MQB_BATCH_SIZE", "512")))
    p.add_argument("--route-concurrency", type=int, default=int(env("MQB_ROUTE_CONCURRENCY", "1")))
    p.add_argument("--log", default=env("MQB_LOG", ""), help="e.g. info/debug; empty = no logging")
    a = p.parse_args()

    if a.log:
        import logging
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
        mq_bridge.init_logging(a.log)

    http_in = {
        "url": a.listen,
        "method": "POST",
        "fire_and_forget": False,      # answer only after the output (JetStream PubAck) succeeded
        "message_id_header": a.id_header,
        "concurrency_limit": a.concurrency_limit,
        "server_protocol": "http1_only",
    }
    if a.path:
        http_in["path"] = a.path
    if a.buffer:
        http_in["internal_buffer_size"] = a.buffer
    if a.workers:
        http_in["workers"] = a.workers

    input_ep = {"http": http_in}
    if a.idempotency_header:
        hdr = a.idempotency_header.lower()   # mq-bridge stores HTTP header names lower-cased in metadata

        class IdFromHeader:
            def on_receive(self, messages):
                out = []
                for m in messages:
                    md = m.metadata
                    key = md.get(hdr)
                    # Message(id=<non-uuid/hex string>) is hashed to a stable 128-bit id
                    out.append(Message(m.payload, md, id=key) if key else m)
                return out

        mq_bridge.register_middleware("id_from_header", lambda route_name, cfg: IdFromHeader())
        input_ep["middlewares"] = [{"custom": {"name": "id_from_header", "config": {}}}]

    config = {
        "input": input_ep,
        "output": {
            "nats": {
                "url": a.nats_url,
                "stream": a.stream,
                "subject": a.subject,
                "deduplicate": True,    # Nats-Msg-Id header from the message id
                "delayed_ack": False,   # wait for the PubAck
                "no_jetstream": False,
            }
        },
        "batch_size": a.batch_size,
        "concurrency": a.route_concurrency,
    }

    # mq-bridge binds its listeners with SO_REUSEPORT, so a stale instance on the same
    # port would NOT make startup fail (the kernel would just split connections between
    # both processes). Refuse to start if the port is already taken.
    host, _, port = a.listen.rpartition(":")
    probe = socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT, still fails on a LISTENer
    try:
        probe.bind((host.strip("[]"), int(port)))
    except OSError as e:
        sys.exit(f"listen address {a.listen} already in use: {e}")
    finally:
        probe.close()

    route = Route.from_config(config, "http_to_nats")

    def on_signal(signum, frame):
        mq_bridge.request_shutdown()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    route.start()   # raises on config/connection errors; returns once deployed
    print(f"mq-bridge {mq_bridge.__version__} listening on http://{a.listen}{a.path or '/'} -> "
          f"{a.nats_url} stream={a.stream} subject={a.subject}", file=sys.stderr, flush=True)
    while not mq_bridge.is_shutdown_requested():
        time.sleep(0.2)
    route.stop()
    route.join()
    print("mq-bridge stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
