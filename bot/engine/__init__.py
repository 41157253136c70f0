"""The conversation engine: channel-neutral messages, flows and their dispatch."""
