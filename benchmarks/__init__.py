"""Speed, memory and quality benchmarks, side by side against the lecture's plain loop."""
