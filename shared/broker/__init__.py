"""The Redis conveyor: dramatiq broker, queue names, versioned payloads, worker runner."""
