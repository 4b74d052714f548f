"""System tests: the demo, the daemon with the shipped instance, kills, the browser."""
