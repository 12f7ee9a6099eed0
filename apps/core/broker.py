"""How many task messages wait in each configured queue, counted in the broker itself.

Operators watch queue depths to see work piling up (a stopped worker, a slow Greenhouse); the
count must be the broker's, not a process's, so that it is right whichever process is scraped.
kombu answers a passive `queue_declare` with the queue's message count on every broker we run:
the embedded broker counts the queue's message files in its folder, Redis sums the LLEN of the
queue's priority lists, RabbitMQ reports its own count. A queue the broker does not know yet
(nothing was ever published to it, or an empty Redis list) is 0.

The queue names come from the Celery configuration (default queue, `task_queues`, routes and the
beat schedule's options), whatever form each takes, so queues added by kind of work are counted
without a change here.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from celery import current_app

BROKER_TIMEOUT = 3  # seconds: a scrape must not hang on a broker that is down


def _queue_name(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    name = getattr(entry, "name", None)  # a kombu Queue
    if isinstance(name, str):
        return name
    if isinstance(entry, Mapping):
        queue = entry.get("queue")
        return _queue_name(queue) if queue is not None else None
    return None


def _route_queues(routes: Any) -> Iterable[str | None]:
    if isinstance(routes, Mapping):
        for route in routes.values():
            yield _queue_name(route)
    elif isinstance(routes, list | tuple):
        for item in routes:
            yield from _route_queues(item)


def configured_queue_names(conf: Any = None) -> list[str]:
    """Every queue name the Celery configuration mentions, sorted, each once."""
    conf = conf if conf is not None else current_app.conf
    names: list[str | None] = [conf.task_default_queue]
    queues = conf.task_queues or ()
    if isinstance(queues, Mapping):
        names += list(queues)
    else:
        names += [_queue_name(queue) for queue in queues]
    names += list(_route_queues(conf.task_routes))
    for entry in (conf.beat_schedule or {}).values():
        options = entry.get("options") or {}
        names.append(_queue_name(options.get("queue")))
    return sorted({name for name in names if name})


def queue_depths(names: Iterable[str] | None = None) -> dict[str, int]:
    """{queue: messages waiting} from the broker. Raises the broker's error when it is down."""
    from kombu.exceptions import ChannelError

    app = current_app
    names = list(names) if names is not None else configured_queue_names(app.conf)
    depths: dict[str, int] = {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
        channel: Any = conn.channel()
        try:
            for name in names:
                try:
                    depths[name] = channel.queue_declare(queue=name, passive=True).message_count
                except ChannelError:
                    depths[name] = 0  # not declared yet: nothing was ever queued there
                    channel.close()  # AMQP closes the channel on NOT_FOUND
                    channel = conn.channel()
        finally:
            channel.close()
    return depths
