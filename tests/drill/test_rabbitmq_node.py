"""The drill's own RabbitMQ node (bench/rabbitmq.py) is never the machine's: the drill stops and
starts it, and CI and other work use the system node on 5672."""

import pytest

from bench.rabbitmq import RabbitNode, RabbitNodeError


def test_the_system_node_is_refused_by_name_or_port():
    with pytest.raises(RabbitNodeError):
        RabbitNode(name="rabbit@localhost")
    with pytest.raises(RabbitNodeError):
        RabbitNode(port=5672)


def test_only_a_broker_url_at_the_nodes_port_is_restarted_with_it(tmp_path):
    node = RabbitNode.from_env(
        {
            "DRILL_RABBITMQ_NODE": "ci-drill@localhost",
            "DRILL_RABBITMQ_PORT": "5674",
            "DRILL_RABBITMQ_DIR": str(tmp_path / "rmq"),
        }
    )
    assert (node.name, node.port, node.folder) == ("ci-drill@localhost", 5674, tmp_path / "rmq")
    assert node.serves("amqp://guest:guest@127.0.0.1:5674//")
    assert not node.serves("amqp://guest:guest@127.0.0.1:5672//")  # the system node
    assert not node.serves("amqp://guest:guest@mq.internal:5674//")
    assert not node.serves("redis://127.0.0.1:5674/0")
