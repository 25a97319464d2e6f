"""What the web side reads of the workers and the broker: heartbeats and queues."""
